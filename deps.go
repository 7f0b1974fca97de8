//go:build tools

package riot

import (
	_ "github.com/anishathalye/porcupine"
	_ "github.com/google/btree"
	_ "github.com/hashicorp/go-hclog"
	_ "github.com/hashicorp/raft"
	_ "github.com/hashicorp/raft-boltdb/v2"
	_ "github.com/redis/go-redis/v9"
	_ "github.com/syndtr/goleveldb/leveldb"
	_ "github.com/tidwall/redcon"
	_ "go.etcd.io/bbolt"
	_ "google.golang.org/grpc"
	_ "google.golang.org/protobuf/proto"
)
