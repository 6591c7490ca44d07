"""Safe Outputs: output requests, encrypted file storage, automated checks, reviews and releases.

The database-free parts live in `risk_profile` (versioned criteria), `checks` (automated disclosure
checks) and `storage` (encrypted at rest). Import them from their modules; this package stays light so
that importing the application does not load Arrow.
"""
