"""The end-of-run summary a person reads: counts, throughput in the encoder's unit, failures."""

from embedforge.flows.cli.core import print_summary


def test_summary_prints_tokens_per_second_when_the_encoder_counts_them(capsys):
    summary = {"table": "text__minilm", "db": "/d", "dataset": "docs", "embedded": 3, "reused": 0, "skipped": 0,
               "failed": 0, "failures": [], "units": 61765, "unit": "tokens", "shard_seconds": 58.4}  # fmt: skip
    print_summary(summary)
    assert "61,765 tokens in 58.4 s of shard work: 1,058 tokens/s" in capsys.readouterr().out
    print_summary({**summary, "encode_seconds": 50.0})  # the model's build and the store writes left out
    assert "61,765 tokens in 50.0 s of encoding: 1,235 tokens/s (shards 58.4 s with model" in capsys.readouterr().out
    print_summary({**summary, "units": 0, "unit": ""})
    assert "/s" not in capsys.readouterr().out
