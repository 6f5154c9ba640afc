"""Tray counting on packing-line video (Tyson's article): detections per frame → trays per bin."""
