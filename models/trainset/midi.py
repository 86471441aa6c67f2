"""Note containers and MIDI writing (Standard MIDI File, format 0, written by hand)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

PPQ = 480


@dataclass
class Part:
    inst_key: str | None  # None for drums
    program: int
    channel: int
    role: str
    volume: int = 100
    pan: int = 64
    reverb: int = 40
    notes: list[tuple[int, int, int, int]] = field(default_factory=list)  # start, dur, pitch, vel

    def add(self, start: float, dur: float, pitch: int, vel: int) -> None:
        s, d = int(round(start)), max(20, int(round(dur)))
        self.notes.append((s, d, int(pitch), max(1, min(127, int(vel)))))


def vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def write_midi(path: Path, parts: list[Part], bpm: float, beats_per_bar: int, end_tick: int) -> None:
    ev: list[tuple[int, int, bytes]] = []  # tick, order, bytes
    us = int(round(60_000_000 / bpm))
    ev.append((0, 0, b"\xff\x51\x03" + us.to_bytes(3, "big")))
    ev.append((0, 0, bytes([0xFF, 0x58, 4, beats_per_bar, 2, 24, 8])))
    for p in parts:
        ch = p.channel
        if ch != 9:  # channel 10 stays on the drum bank; its program picks the kit
            ev.append((0, 1, bytes([0xB0 | ch, 0, 0])))
        ev.append((0, 2, bytes([0xC0 | ch, p.program & 0x7F])))
        ev.append((0, 3, bytes([0xB0 | ch, 7, p.volume])))
        ev.append((0, 3, bytes([0xB0 | ch, 10, p.pan])))
        ev.append((0, 3, bytes([0xB0 | ch, 91, p.reverb])))
        ev.append((0, 3, bytes([0xB0 | ch, 93, 0])))
        for s, d, pitch, vel in p.notes:
            if not 0 <= pitch <= 127:
                continue
            ev.append((s + 10, 6, bytes([0x90 | ch, pitch, vel])))
            ev.append((s + 10 + d, 5, bytes([0x80 | ch, pitch, 0])))
    ev.sort(key=lambda e: (e[0], e[1]))
    last = max(end_tick, ev[-1][0])
    body = bytearray()
    t = 0
    for tick, _, data in ev:
        body += vlq(tick - t) + data
        t = tick
    body += vlq(last - t) + b"\xff\x2f\x00"
    with open(path, "wb") as f:
        f.write(b"MThd" + struct.pack(">IHHH", 6, 0, 1, PPQ))
        f.write(b"MTrk" + struct.pack(">I", len(body)) + bytes(body))
