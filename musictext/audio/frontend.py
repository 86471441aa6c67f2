"""musicnn's audio front end: 16 kHz mono -> log-compressed 96-band mel -> 187-frame patches.

The numbers are musicnn's own (``musicnn/configuration.py``): a 3 s patch at 16 kHz with hop 256
is 187 frames, the receptive field the networks were trained on.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16000
N_FFT = 512
HOP = 256
N_MELS = 96
PATCH_FRAMES = 187
# Samples needed for one patch of PATCH_FRAMES frames with librosa's centred STFT.
PATCH_SAMPLES = (PATCH_FRAMES - 1) * HOP


def log_mel(y: np.ndarray) -> np.ndarray:
    """Return the [frames, 96] log-mel of 16 kHz mono float audio, as musicnn computes it.

    musicnn casts the mel to float16 before ``10000 * x``; on NumPy 2 that product overflows to
    inf and every track looks the same, so the compression is done in float32 here.
    """
    import librosa

    mel = librosa.feature.melspectrogram(
        y=np.asarray(y, dtype=np.float32), sr=SAMPLE_RATE, hop_length=HOP, n_fft=N_FFT, n_mels=N_MELS
    ).T.astype(np.float32)
    return np.log10(1.0 + 10000.0 * mel).astype(np.float32)


def patches(mel: np.ndarray) -> np.ndarray:
    """Cut a [frames, 96] log-mel into non-overlapping [n, 187, 96] patches (musicnn's batch_data).

    A track shorter than one patch is zero-padded to one patch, so every decodable clip yields
    at least one patch; a trailing partial patch is otherwise dropped, as musicnn does.
    """
    frames = mel.shape[0]
    if frames < PATCH_FRAMES:
        pad = np.zeros((PATCH_FRAMES, N_MELS), dtype=np.float32)
        pad[:frames] = mel
        return pad[None]
    n = frames // PATCH_FRAMES
    return np.ascontiguousarray(mel[: n * PATCH_FRAMES].reshape(n, PATCH_FRAMES, N_MELS))
