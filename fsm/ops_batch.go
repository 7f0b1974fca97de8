package fsm

// OpBatch carries independent commands that the leader proposed together in
// one Raft entry (group commit). Each argument is one encoded Command; they are
// applied in order, each exactly as if it were its own entry: its own result
// and its own rollback when it fails. Every sub-command runs at the batch's
// Now (the leader's clock when it formed the entry); the sub-commands' own Now
// fields are ignored, so proposers need not stamp them. The result is an array with
// one element per sub-command. A batch is all-or-nothing only in the sense that
// one corrupt sub-command makes the whole entry a corrupt-command error that
// changes nothing; batches do not nest.
const OpBatch Op = 112

// batchArgsPerCommand is the arguments per sub-command applyBatch allocates
// room for up front.
const batchArgsPerCommand = 3

// NewBatch encodes cmds into one batch command.
func NewBatch(cmds []*Command) *Command {
	return &Command{Op: OpBatch, Args: EncodeAll(cmds)}
}

// EncodeAll returns the encodings of cmds, in one allocation (sized first:
// appending each to an empty slice would grow and copy it several times).
func EncodeAll(cmds []*Command) [][]byte {
	n := 0
	for _, c := range cmds {
		n += c.encodedLen()
	}
	buf := make([]byte, 0, n)
	out := make([][]byte, len(cmds))
	for i, c := range cmds {
		start := len(buf)
		buf = c.AppendBinary(buf)
		out[i] = buf[start:len(buf):len(buf)]
	}
	return out
}

// EncodedLen is the length of c's binary encoding.
func (c *Command) EncodedLen() int { return c.encodedLen() }

func init() {
	register(OpBatch, handler{minArgs: 1, maxArgs: -1, apply: applyBatch})
}

func applyBatch(t *txn, c *Command) Result {
	subs := make([]Command, len(c.Args))
	// The sub-commands' argument lists share one array, sized for typical
	// writes (SET key value [options]); a sub-command that does not fit gets
	// its own.
	arena := make([][]byte, batchArgsPerCommand*len(c.Args))
	for i, a := range c.Args {
		subs[i].Args = arena[:0:len(arena)]
		if err := subs[i].decode(a); err != nil || subs[i].Op == OpBatch || handlers[subs[i].Op] == nil {
			return resCorrupt
		}
		n := len(subs[i].Args)
		subs[i].Args = subs[i].Args[:n:n]
		if n <= len(arena) { // decode used the arena
			arena = arena[n:]
		}
	}
	out := make([]Result, len(subs))
	for i := range subs {
		subs[i].Now = c.Now
		out[i] = t.exec(&subs[i])
	}
	return Result{Kind: ResultArray, Array: out}
}
