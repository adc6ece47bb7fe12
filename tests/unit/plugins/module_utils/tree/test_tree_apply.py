"""tree_apply: transactions packed under the size and count budgets, in order."""
from ansible_collections.zkops.zookeeper.plugins.module_utils.tree import apply as ta
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import digest as td
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import tree_file as tf
from ansible_collections.zkops.zookeeper.plugins.module_utils.tree import plan as tp
from ansible_collections.zkops.zookeeper.plugins.module_utils.client import protocol as zp

WORLD = ((31, "world", "anyone"),)


def ops(sizes):
    return [ta.Prepared(zp.Create("/n%d" % i, b"x" * n, WORLD, 0), "create")
            for i, n in enumerate(sizes)]


def test_prepared_size_is_the_bytes_it_adds_to_a_multi():
    prepared = ops([0, 10, 1000])
    whole = len(bytes(zp.Multi(prepared).serialize()))
    assert whole == sum(p.size for p in prepared) + 9


def test_batches_stay_under_both_budgets_and_keep_order():
    prepared = ops([100] * 50 + [5000] + [100] * 50)
    batches = list(ta.pack_batches(prepared, 2048, 12))
    flat = [op for b in batches for op in b]
    assert flat == prepared
    for b in batches:
        assert len(b) <= 12
        if len(b) > 1:
            assert sum(op.size for op in b) + 9 <= 2048
    # The oversized operation travels alone.
    assert [len(b) for b in batches if b[0].size > 2048] == [1]


def test_create_op_recreates_kinds():
    def step(kind, ttl=0, data_after=False):
        r = tf.Record("/k", b"data", WORLD, kind=kind, ttl=ttl)
        return tp.CreateStep(r, WORLD, data_after=data_after)

    assert ta.create_op(step(td.CONTAINER)).type == 19
    t = ta.create_op(step(td.TTL, 5000))
    assert t.type == 21 and t.ttl == 5000 and t.flags == 5
    assert ta.create_op(step(td.PERSISTENT)).flags == 0
    assert ta.create_op(step(td.PERSISTENT, data_after=True)).data == b""
