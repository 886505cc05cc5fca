"""Tree assertions: expectations, the text form, the matcher and its failure drawing.

:func:`~pytest_harn_trace.assertions.tree.assert_span_tree` compares a list of
Harn spans with an expected tree and explains the difference. Built on the
Harn port only; pytest is not imported here.
"""
