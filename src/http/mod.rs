//! The HTTP layer: TLS listener, admin listener, AdmissionReview envelopes, metrics and logs.
