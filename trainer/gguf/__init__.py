"""GGUF export for llama.cpp / Ollama / LM Studio (`clonekit gguf`)."""

from trainer.gguf.export import GgufResult, export_gguf

__all__ = ["GgufResult", "export_gguf"]
