"""HTSAT (a Swin transformer over log-mel patches) with its 48 kHz front end, written for musictext.

Laid out as LAION-CLAP's ``audio_branch`` so a checkpoint's tensors load by name; the front end
(STFT as a convolution, slaney mel filters, 10·log10 power, BatchNorm over mel bins, the 1001
frames of a 10 s window stretched to 1024 by bicubic interpolation) is part of the graph, so the
exported ONNX file takes a raw 48 kHz waveform. Inference only: no dropout, no spec augment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class AudioConfig:
    sample_rate: int = 48000
    clip_samples: int = 480000  # 10 s
    n_fft: int = 1024
    hop: int = 480
    n_mels: int = 64
    fmin: float = 50.0
    fmax: float = 14000.0
    spec_size: int = 256
    patch_size: int = 4
    window_size: int = 8
    embed_dim: int = 128  # HTSAT-base
    depths: tuple[int, ...] = (2, 2, 12, 2)
    num_heads: tuple[int, ...] = (4, 8, 16, 32)
    mlp_ratio: float = 4.0

    @property
    def num_features(self) -> int:
        return self.embed_dim * 2 ** (len(self.depths) - 1)

    @property
    def frames(self) -> int:
        return self.clip_samples // self.hop + 1  # center=True


HTSAT_BASE = AudioConfig()


class FrontEnd(nn.Module):
    """waveform [B, samples] -> log-mel [B, 1, frames, mels] (dB, before bn0).

    The DFT kernels and mel filters are buffers computed here, not read from the checkpoint;
    `check_against` compares them with a checkpoint's copies so a different front end is refused.
    """

    def __init__(self, cfg: AudioConfig):
        super().__init__()
        import librosa

        n = cfg.n_fft
        bins = n // 2 + 1
        window = librosa.filters.get_window("hann", n, fftbins=True).astype(np.float64)
        k = np.arange(bins)[:, None]
        t = np.arange(n)[None, :]
        angle = -2 * np.pi * k * t / n
        real = (np.cos(angle) * window[None, :]).astype(np.float32)[:, None, :]
        imag = (np.sin(angle) * window[None, :]).astype(np.float32)[:, None, :]
        mel = librosa.filters.mel(sr=cfg.sample_rate, n_fft=n, n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax)
        self.register_buffer("conv_real", torch.from_numpy(real), persistent=False)
        self.register_buffer("conv_imag", torch.from_numpy(imag), persistent=False)
        self.register_buffer("melW", torch.from_numpy(mel.T.astype(np.float32)), persistent=False)
        self.pad = n // 2
        self.hop = cfg.hop

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        x = F.pad(wave[:, None, :], (self.pad, self.pad), mode="reflect")
        re = F.conv1d(x, self.conv_real, stride=self.hop)
        im = F.conv1d(x, self.conv_imag, stride=self.hop)
        power = (re**2 + im**2).transpose(1, 2)  # [B, frames, bins]
        mel = power @ self.melW
        return (10.0 * torch.log10(torch.clamp(mel, min=1e-10)))[:, None]

    def check_against(self, state: dict, prefix: str) -> float:
        """Largest difference between our kernels and the checkpoint's (torchlibrosa layout), or 0
        when the checkpoint does not carry them."""
        worst = 0.0
        pairs = (
            ("spectrogram_extractor.stft.conv_real.weight", self.conv_real),
            ("spectrogram_extractor.stft.conv_imag.weight", self.conv_imag),
            ("logmel_extractor.melW", self.melW),
        )
        for key, ours in pairs:
            theirs = state.get(prefix + key)
            if theirs is None:
                continue
            if tuple(theirs.shape) != tuple(ours.shape):
                return math.inf
            # The sign of the imaginary kernel does not change the power spectrum.
            diff = (theirs.float() - ours).abs().max().item()
            if "imag" in key:
                diff = min(diff, (theirs.float() + ours).abs().max().item())
            worst = max(worst, diff)
        return worst


def _bicubic_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """[n_out, n_in]: torch's bicubic interpolation (align_corners) along one axis, as a matrix."""
    eye = torch.eye(n_in)[None, None]  # [1, 1, n_in, n_in]: column j is the unit impulse at j
    out = F.interpolate(eye, size=(n_out, n_in), mode="bicubic", align_corners=True)
    return out[0, 0]


def window_partition(x: torch.Tensor, ws: int) -> torch.Tensor:
    b, h, w, c = x.shape
    x = x.view(b, h // ws, ws, w // ws, ws, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, ws * ws, c)


def window_reverse(windows: torch.Tensor, ws: int, h: int, w: int) -> torch.Tensor:
    c = windows.shape[-1]
    x = windows.view(-1, h // ws, w // ws, ws, ws, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, h, w, c)


class WindowAttention(nn.Module):
    def __init__(self, dim: int, ws: int, heads: int):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * ws - 1) ** 2, heads))
        coords = torch.stack(torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (ws - 1)
        index = rel[:, :, 0] * (2 * ws - 1) + rel[:, :, 1]
        self.register_buffer("index", index.flatten(), persistent=False)
        self.n = ws * ws
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        attn = q @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.index].view(n, n, -1).permute(2, 0, 1)
        attn = attn + bias[None]
        if mask is not None:
            nw = mask.shape[0]
            attn = attn.view(-1, nw, self.heads, n, n) + mask[None, :, None]
            attn = attn.view(-1, self.heads, n, n)
        x = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, n, c)
        return self.proj(x)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class SwinBlock(nn.Module):
    def __init__(self, dim: int, resolution: tuple[int, int], heads: int, ws: int, shift: int, mlp_ratio: float):
        super().__init__()
        self.resolution = resolution
        if min(resolution) <= ws:  # one window covers the map: no partition, no shift
            ws, shift = min(resolution), 0
        self.ws, self.shift = ws, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, ws, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        mask = None
        if shift:
            h, w = resolution
            img = torch.zeros(1, h, w, 1)
            cuts = (slice(0, -ws), slice(-ws, -shift), slice(-shift, None))
            label = 0
            for hs in cuts:
                for wsl in cuts:
                    img[:, hs, wsl, :] = label
                    label += 1
            windows = window_partition(img, ws).squeeze(-1)
            mask = windows[:, None, :] - windows[:, :, None]
            mask = mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = self.resolution
        b, _, c = x.shape
        y = self.norm1(x).view(b, h, w, c)
        if self.shift:
            y = torch.roll(y, shifts=(-self.shift, -self.shift), dims=(1, 2))
        y = self.attn(window_partition(y, self.ws), self.mask)
        y = window_reverse(y, self.ws, h, w)
        if self.shift:
            y = torch.roll(y, shifts=(self.shift, self.shift), dims=(1, 2))
        x = x + y.reshape(b, h * w, c)
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    def __init__(self, dim: int, resolution: tuple[int, int]):
        super().__init__()
        self.resolution = resolution
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = self.resolution
        b, _, c = x.shape
        x = x.view(b, h, w, c)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x.view(b, -1, 4 * c)))


class Stage(nn.Module):
    def __init__(self, cfg: AudioConfig, i: int, resolution: tuple[int, int]):
        super().__init__()
        dim = cfg.embed_dim * 2**i
        self.blocks = nn.ModuleList(
            SwinBlock(
                dim,
                resolution,
                cfg.num_heads[i],
                cfg.window_size,
                0 if j % 2 == 0 else cfg.window_size // 2,
                cfg.mlp_ratio,
            )
            for j in range(cfg.depths[i])
        )
        self.downsample = PatchMerging(dim, resolution) if i < len(cfg.depths) - 1 else None

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x if self.downsample is None else self.downsample(x)


class PatchEmbed(nn.Module):
    def __init__(self, cfg: AudioConfig):
        super().__init__()
        self.proj = nn.Conv2d(1, cfg.embed_dim, kernel_size=cfg.patch_size, stride=cfg.patch_size)
        self.norm = nn.LayerNorm(cfg.embed_dim)

    def forward(self, x):
        return self.norm(self.proj(x).flatten(2).transpose(1, 2))


class HTSAT(nn.Module):
    """waveform [B, clip_samples] at 48 kHz -> clip embedding [B, num_features] (HTSAT's "embedding")."""

    def __init__(self, cfg: AudioConfig = HTSAT_BASE):
        super().__init__()
        self.cfg = cfg
        self.front = FrontEnd(cfg)
        self.bn0 = nn.BatchNorm2d(cfg.n_mels)
        self.freq_ratio = cfg.spec_size // cfg.n_mels
        target_t = cfg.spec_size * self.freq_ratio
        if cfg.frames > target_t:
            raise ValueError(f"{cfg.frames} frames do not fit the {target_t}-frame input")
        self.register_buffer("stretch", _bicubic_matrix(cfg.frames, target_t), persistent=False)
        self.patch_embed = PatchEmbed(cfg)
        grid = cfg.spec_size // cfg.patch_size
        self.layers = nn.ModuleList(Stage(cfg, i, (grid // 2**i, grid // 2**i)) for i in range(len(cfg.depths)))
        self.norm = nn.LayerNorm(cfg.num_features)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        x = self.front(wave)  # [B, 1, T, M]
        x = self.bn0(x.transpose(1, 3)).transpose(1, 3)
        x = torch.matmul(self.stretch, x)  # [B, 1, 1024, M]: T stretched; M already spec_size / freq_ratio
        b, c, t, m = x.shape
        r = self.freq_ratio
        x = x.permute(0, 1, 3, 2).reshape(b, c, m, r, t // r).permute(0, 1, 3, 2, 4).reshape(b, c, r * m, t // r)
        x = self.patch_embed(x)
        for stage in self.layers:
            x = stage(x)
        return self.norm(x).mean(dim=1)  # the mean over every position is HTSAT's latent "embedding"
