"""Run by tests/test_distributed.py, alone or under `msrun`: train a few steps, then save THIS rank's weights.

Only rank 0 writes the run directory, so each rank's final parameters are saved here separately to let the test
check that the ranks agree with each other and with a single-process run over the combined batch.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main():
    import mindspore as ms
    from mindspore_impl.config import load_config
    from mindspore_impl.trainer import build_trainer

    p = argparse.ArgumentParser()
    p.add_argument("--config", required=True)
    p.add_argument("--set", dest="overrides", action="append", default=[])
    p.add_argument("--out", required=True)
    p.add_argument("--resume", action="store_true", help="continue the run directory's latest checkpoint")
    args = p.parse_args()
    trainer = build_trainer(load_config(args.config, args.overrides), resume_latest=args.resume)
    trainer.fit(progress=False)
    entries = [{"name": f"{prefix}/{q.name}", "data": q}
               for prefix, net in trainer.family.networks().items() for q in net.get_parameters()]
    tag = f"rank{trainer.ctx.rank}" if trainer.ctx.distributed else "single"
    ms.save_checkpoint(entries, str(Path(args.out) / f"{tag}_of_{trainer.ctx.world}.ckpt"))


if __name__ == "__main__":
    main()
