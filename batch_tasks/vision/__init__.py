"""Classify and detect models driven by their manifests: preprocessing, output decoding, results, overlays."""
