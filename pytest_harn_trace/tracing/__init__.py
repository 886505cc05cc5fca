"""The Harn port: Harn's span model, collector, mock clock, lifecycle events and summary.

A faithful Python version of the Harn VM's tracing module, which your code can
instrument itself with. It imports neither pytest nor any other part of this
package, so it is usable on its own.
"""
