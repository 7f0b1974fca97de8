package resp

import "github.com/tidwall/redcon"

// replyBuf collects RESP replies in memory, in redcon's encoding: the write
// half of redcon.Conn, for a connection that sends them itself (the event
// loop's) or a test that reads them back.
type replyBuf struct{ b []byte }

func (w *replyBuf) WriteError(msg string)       { w.b = redcon.AppendError(w.b, msg) }
func (w *replyBuf) WriteString(str string)      { w.b = redcon.AppendString(w.b, str) }
func (w *replyBuf) WriteBulk(bulk []byte)       { w.b = redcon.AppendBulk(w.b, bulk) }
func (w *replyBuf) WriteBulkString(bulk string) { w.b = redcon.AppendBulkString(w.b, bulk) }
func (w *replyBuf) WriteInt(num int)            { w.b = redcon.AppendInt(w.b, int64(num)) }
func (w *replyBuf) WriteInt64(num int64)        { w.b = redcon.AppendInt(w.b, num) }
func (w *replyBuf) WriteUint64(num uint64)      { w.b = redcon.AppendUint(w.b, num) }
func (w *replyBuf) WriteArray(count int)        { w.b = redcon.AppendArray(w.b, count) }
func (w *replyBuf) WriteNull()                  { w.b = redcon.AppendNull(w.b) }
func (w *replyBuf) WriteRaw(data []byte)        { w.b = append(w.b, data...) }
func (w *replyBuf) WriteAny(v any)              { w.b = redcon.AppendAny(w.b, v) }
