"""Pixels to 2D to 3D: video input, 2D pose backends, temporal windows, and lifters (PoseFormerV2)."""
