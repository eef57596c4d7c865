"""Write memwall Engram access traces (format 1.0, see docs/engram-trace-format.md).

Standard library only, so an inference engine can import it from inside its Engram lookup:

    from memwall_trace import EngramTraceWriter
    w = EngramTraceWriter("run.mwet", config_name="v41-flash", layer_ids=[1, 14],
                          orders=[2, 3, 4], heads_per_order=8,
                          table_rows=[384006168, 384016682])
    # in the Engram layer, after hashing (rows: [T, 24] int tensor, offsets included):
    w.write(step, layer_id, rows, t_start_ns=t0, t_end_ns=t1, seq_ids=seq, positions=pos)
    w.close()   # writes the end record; the file appears under its name only now
"""
import array, json, os, struct, sys, zlib

MAGIC = b"MWENGRAM"
FLAG_TIMESTAMPS, FLAG_TOKEN_META = 1, 2


def _ints(x):
    """Flatten a tensor / ndarray / nested sequence of ints into a list of ints."""
    if hasattr(x, "tolist"):
        x = x.tolist()
    out = []
    for v in x:
        if isinstance(v, (list, tuple)):
            out.extend(int(u) for u in v)
        else:
            out.append(int(v))
    return out


def _le(typecode, values):
    a = array.array(typecode, values)
    if sys.byteorder == "big":
        a.byteswap()
    return a.tobytes()


class EngramTraceWriter:
    def __init__(self, path, *, config_name, layer_ids, orders, heads_per_order, table_rows,
                 head_table_sizes=None, compressed_vocab_size=None, row_bytes=None, source=None):
        self.path, self.tmp = path, path + ".partial"
        self.columns = len(orders) * heads_per_order
        self.layers = {int(l): int(r) for l, r in zip(layer_ids, table_rows)}
        self.width = 4 if max(table_rows) <= 2**32 else 8
        config = {"name": config_name, "layer_ids": list(layer_ids), "orders": list(orders),
                  "heads_per_order": heads_per_order, "columns": self.columns,
                  "table_rows": list(table_rows)}
        for k, v in (("head_table_sizes", head_table_sizes),
                     ("compressed_vocab_size", compressed_vocab_size), ("row_bytes", row_bytes)):
            if v is not None:
                config[k] = v
        header = json.dumps({"format": "memwall-engram-trace", "version": "1.0", "config": config,
                             "row_id_bytes": self.width, "time_unit": "ns",
                             "source": source or {"kind": "engine"}}).encode()
        self.f = open(self.tmp, "wb")
        self.f.write(MAGIC + struct.pack("<HHII", 1, 0, len(header), zlib.crc32(header)) + header)
        self.records = self.tokens = self.row_ids = 0

    def _record(self, kind, payload):
        self.f.write(kind + struct.pack("<II", len(payload), zlib.crc32(payload)) + payload)

    def write(self, step, layer_id, rows, *, t_start_ns=None, t_end_ns=None, seq_ids=None,
              positions=None):
        """One (step, layer) record. rows: [T][columns] flat row ids into the layer's table."""
        rows = _ints(rows)
        if layer_id not in self.layers or len(rows) % self.columns:
            raise ValueError(f"layer {layer_id} unknown or {len(rows)} ids not a multiple of {self.columns}")
        if rows and (min(rows) < 0 or max(rows) >= self.layers[layer_id]):
            raise ValueError(f"row id outside layer {layer_id}'s table")
        t = len(rows) // self.columns
        flags, extra = 0, b""
        if t_start_ns is not None:
            flags |= FLAG_TIMESTAMPS
            extra += struct.pack("<QQ", int(t_start_ns), int(t_end_ns if t_end_ns is not None else t_start_ns))
        if seq_ids is not None:
            seq, pos = _ints(seq_ids), _ints(positions)
            if len(seq) != t or len(pos) != t:
                raise ValueError("seq_ids and positions need one entry per token")
            flags |= FLAG_TOKEN_META
            extra += _le("I", seq) + _le("I", pos)
        body = _le("I" if self.width == 4 else "Q", rows)
        self._record(b"ROWS", struct.pack("<QIIII", int(step), int(layer_id), t, flags, 0) + extra + body)
        self.records += 1
        self.tokens += t
        self.row_ids += len(rows)

    def close(self):
        self._record(b"END!", struct.pack("<QQQ", self.records, self.tokens, self.row_ids))
        self.f.close()
        os.replace(self.tmp, self.path)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *_):
        if exc_type is None:
            self.close()
        else:  # never leave a partial trace under the final name
            self.f.close()
            os.remove(self.tmp)


if __name__ == "__main__":  # tiny self-demo: python3 memwall_trace.py out.mwet
    with EngramTraceWriter(sys.argv[1], config_name="demo", layer_ids=[1, 15], orders=[2, 3],
                           heads_per_order=1, table_rows=[100, 100]) as w:
        w.write(0, 1, [[3, 7], [5, 9]], t_start_ns=10, t_end_ns=20, seq_ids=[0, 0], positions=[0, 1])
        w.write(0, 15, [[1, 2], [3, 4]])
