"""Manga → anime data tooling (the manGANime study's data preparation, re-implemented).

Raw episodes and manga scans go in; a set of (anime frame, next frame, manga page) training triples and a
StyleGAN frame archive come out. The command-line entry points are `preprocess.py` (reformat, index, manga,
anime, search, chunks, dataset) and `label.py` (the browser-based page↔frame labeling tool).

Frame numbers: the tag files and the labeling tool count *kept* frames, i.e. the episode's video frames with
its `exclude` ranges removed (as the study does); exclude ranges and file names use raw video frame numbers.
"""
