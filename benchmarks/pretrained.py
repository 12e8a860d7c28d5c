"""The README's "Pretrained models" table, from the cards of the shipped models.

    python benchmarks/pretrained.py

Every figure comes from a card (``saved_models/<name>/card.json``), which ``zoo ship`` wrote
from the run's own measurements; nothing here is typed by hand.
"""

from zoo.pretrained import headline, shipped

SPLIT_WORDS = {"test": "test split", "train": "training pairs (no held-out split)"}


def main() -> None:
    print("| model | task | headline metric | value | also | size | training | card |")
    print("|---|---|---|---|---|---|---|---|")
    for name, card in shipped().items():
        metric, value = headline(card)
        metrics, t = card["metrics"], card["training"]
        also = []
        if "val_loss" in card["validation"] and card["task"] == "language_model":
            also.append(f"validation loss {card['validation']['val_loss']:.4f}")
        also += [f"{k.split('_', 3)[-1].replace('_', ' ')}: {v:.4f}" for k, v in metrics.items()
                 if "_exact_match_" in k]
        if card["task"] == "language_model":
            also.append(f"{metrics['test_bits_per_char']:.3f} bits/char")
        for figure in card.get("figures", {}).values():  # judged by another shipped model
            also.append(f"class agreement {figure['agreement']:.3f} at temperature {figure['temperature']:g} "
                        f"(judge `{figure['judge']}`)")
        minutes = f"{t['seconds'] / 60:.0f} min, {t['epochs']} epochs, {t['backend']}" if t.get("seconds") else "-"
        print(f"| `{name}` | {card['task'].replace('_', ' ')} | {metric} ({SPLIT_WORDS[metric.split('_')[0]]}) | "
              f"{value:.4f} | {'; '.join(also) or '-'} | {card['size_bytes'] / 1e6:.1f} MB | {minutes} | "
              f"[card](saved_models/{name}/README.md) |")


if __name__ == "__main__":
    main()
