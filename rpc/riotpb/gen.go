// Package riotpb holds the protobuf messages and gRPC stubs of the RiotGossip
// service, generated from riot.proto. Do not edit the generated files; change
// riot.proto and run scripts/gen-proto.sh (or go generate) instead.
package riotpb

//go:generate protoc -I . --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative riot.proto
