//! boxwright-builder: Dockerfile to image with a layer cache (not yet written).
//!
//! This crate will turn a parsed Dockerfile (from `boxwright-dockerfile-parser`) into an image:
//! per-stage ARG/ENV expansion, a stage DAG run in parallel, a cache key per instruction (a changed
//! step re-runs itself and every step after it, nothing before it), COPY/ADD from the build
//! context honouring `.dockerignore`, RUN through an `Executor` seam (implemented by the runtime
//! behind a feature), and base images through an `ImageSource` seam (the local store, or a
//! registry pull behind a feature).
//!
//! Nothing is implemented yet. No API is offered until it is real.
