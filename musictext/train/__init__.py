"""`musictext train`: fine-tune the joint audio-text space on the user's own captions or tags.

The only package that imports torch, and only inside the functions that train (``trainer``,
``head``). Reading pairs, gathering features and re-projecting the library with a trained head
(``project``, onnxruntime) work without torch.
"""

from __future__ import annotations

from musictext.errors import DependencyError

INSTALL_HINT = 'pip install "musictext[train]" (on a CPU-only machine first: pip install torch==2.13.0)'


def require_torch():
    """The torch module, or a one-line DependencyError saying how to get it."""
    try:
        import torch
    except ImportError as exc:  # also raised when sys.modules["torch"] is None
        raise DependencyError(f"`musictext train` needs PyTorch, which is not installed: {INSTALL_HINT}") from exc
    return torch
