//! KEDA's `externalscaler` protocol, generated from `proto/externalscaler.proto`.

#![allow(missing_docs, unreachable_pub, clippy::all)]

tonic::include_proto!("externalscaler");

/// The encoded file descriptor set of the proto, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/externalscaler_descriptor.bin"));
