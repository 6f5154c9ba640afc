"""Face-blur flow handlers: prepare (checks + idempotency token), collect (detections → S3), blur."""
