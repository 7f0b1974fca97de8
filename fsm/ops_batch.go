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

// NewBatch encodes cmds into one batch command.
func NewBatch(cmds []*Command) *Command {
	args := make([][]byte, len(cmds))
	for i, c := range cmds {
		args[i] = c.AppendBinary(nil)
	}
	return &Command{Op: OpBatch, Args: args}
}

// EncodedLen is the length of c's binary encoding.
func (c *Command) EncodedLen() int { return c.encodedLen() }

func init() {
	register(OpBatch, handler{minArgs: 1, maxArgs: -1, apply: applyBatch})
}

func applyBatch(t *txn, c *Command) Result {
	subs := make([]Command, len(c.Args))
	for i, a := range c.Args {
		if err := subs[i].decode(a); err != nil || subs[i].Op == OpBatch || handlers[subs[i].Op] == nil {
			return resCorrupt
		}
	}
	out := make([]Result, len(subs))
	for i := range subs {
		subs[i].Now = c.Now
		out[i] = t.exec(&subs[i])
	}
	return Result{Kind: ResultArray, Array: out}
}
