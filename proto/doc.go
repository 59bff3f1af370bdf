// Package proto holds Darwin's internal gRPC contracts. Generated code lives
// beside each .proto file under darwin/<service>/v1.
package proto
