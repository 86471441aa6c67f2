"""LAION-CLAP (HTSAT + RoBERTa) ported to plain torch for `musictext models import-clap`.

Conversion only (needs the ``convert`` extra: torch, onnx); searching with the imported bundle
needs onnxruntime and tokenizers alone. Never imports laion_clap or transformers.
"""
