"""A local Azure Batch service: the REST subset sitelens uses, for the real `azure-batch` 15.x client."""
