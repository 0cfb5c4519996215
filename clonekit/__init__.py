"""clonekit: turn your own chat history into a model that talks like you."""

from builder import __version__

__all__ = ["__version__"]
