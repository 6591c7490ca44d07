"""Key-encryption keys for output files at rest: versions, rotation and retirement."""
