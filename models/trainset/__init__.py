"""The training-set generator behind models/make_training_set.py, one module per job.

instruments   the instrument table (GM programs, caption names, tags, ranges, roles), drum kits
theory        keys, scales and diatonic progressions
midi          note containers and the hand-written Standard MIDI File writer
compose       the composers: melodies, chords, arpeggios, scales, bass lines, riffs, drum grooves
captions      caption wording from a clip's labels
plan          the set-level plan and one clip's composition and labels, from seeds
numpy_synth   --renderer numpy: every note synthesised in numpy/scipy (no soundfont)
fluidsynth    --renderer fluidsynth: the soundfonts (never FluidR3) and the fluidsynth call
build         rendering a clip with retries, the command line, pairs.jsonl and summary.json
"""

SR = 22050
MIN_DUR, MAX_DUR = 15.0, 25.0
