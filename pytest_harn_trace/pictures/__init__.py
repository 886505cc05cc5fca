"""Pictures of a trace: the HTML waterfall page and the Perfetto (Chrome trace) export.

Both draw from one :class:`~pytest_harn_trace.pictures.timeline.Timeline` of
Harn spans and depend on nothing but the Harn port.
"""
