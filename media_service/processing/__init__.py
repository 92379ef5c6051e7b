"""Processing of verified uploads, run by the workers.

jobs         the broker and the actor: queueing, retries, acknowledgement
processor    one job: claim the media, make its outputs, record them
images       decode, orient, strip, WebP variants, blurhash
videos       probe, poster frame, the playable `video` variant
ffmpeg       running ffprobe/ffmpeg on a local file, safely
transcoding  the H.264/AAC variant: remux or transcode, with progress
queue_depth  the broker's queue counts, for the worker's metrics and readiness
"""
