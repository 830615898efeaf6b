"""Model folders: how a model arrives (fetch), what it declares (manifest), where it is kept (publish)."""
