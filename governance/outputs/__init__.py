"""Safe Outputs: output requests, encrypted file storage, automated checks, reviews and releases.

The database-free parts live in `risk_profile` (versioned criteria), `checks` (automated disclosure
checks) and `storage` (encrypted at rest). Import them from their modules; this package stays light so
that importing the application does not load Arrow (only the check job does).

The workflow (HTTP surface in `endpoints` and `file_endpoints`):

* A researcher who is an approved member (lead or researcher) of an active project creates a draft,
  adds files (multipart `file` + `context` + `controls`, streamed into the encrypted store) or an
  ACRO session (a ZIP of the folder `acro.finalise` wrote; see `acro_upload`), and submits. From a
  workspace the token of the launch decision is bound to its project.
* Submitting enqueues `outputs.run_checks` (after commit). The job runs every check on every file,
  one stored result per (file, check, check version), and moves the request to in_review, to blocked
  (malware, or a file whose bytes no longer match the SHA-256 taken at upload), or holds it in
  checking when a check could not run (scanner unreachable); the beat job `outputs.retry_held`
  retries held and stalled runs.
* Reviewers are holders of review:outputs who are neither the requester nor involved in the
  project. Each votes per file; votes are blinded until the tier's number of reviewers have voted;
  disagreement makes the file "conflicted" until a further reviewer's vote decides. The request is
  approved only when every file is; all files rejected rejects it; otherwise it is returned, and a
  resubmission starts a new review round (votes of earlier rounds are kept, not counted).
* Releasing is for holders of release:outputs who are independent of the project in the same way
  (the reviewers may release): every file's hash is re-verified (a mismatch blocks the request) and
  the release record — canonical JSON whose SHA-256 is stored and returned in X-Record-SHA256 — is
  written. A release can be recalled, with a reason.
* Downloads stream and decrypt, and are audited. Before release only independent checkers may read a
  file: not a member's personal token (it could carry unreleased results out of the TRE) and not the
  workspace token either (the files are already in the workspace); after release the project's
  members may. A workspace token is bound to its launch decision and stops working when it ends.
"""
