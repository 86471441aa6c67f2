"""`musictext serve`: the library over HTTP, for a browser and for media-server plugins.

The parts: ``warm`` (one ``Library`` kept open on one worker thread, reopened when an ``index`` run
changes the store), ``api`` (the JSON API under /api/v1/ and the audio stream), ``bridges``
(AudioMuse-AI's HTTP API and OpenSubsonic's sonicSimilarity, answering in their shapes),
``mediaservers`` (reading a Subsonic or Jellyfin server's song list and matching it to the
library), ``guard`` (token, host, size limits, errors as JSON) and ``app`` (assembling them).
Every answer comes from the same service functions the commands call; nothing here writes to
audio files or tags.
"""

DEFAULT_HOST = "127.0.0.1"  # loopback: nothing else on the network can reach it
DEFAULT_PORT = 8765
