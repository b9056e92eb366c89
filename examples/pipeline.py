"""vaekit in a scikit-learn Pipeline: VAE features for a classifier, tuned by GridSearchCV.

``MinMaxScaler -> VAE -> LogisticRegression`` classifies scikit-learn's digits
from the VAE's posterior means ``E[z | x]``. ``GridSearchCV`` chooses the
latent dimension ``n_components`` and the KL weight ``beta`` by 3-fold
cross-validation: vaekit's estimators are ordinary scikit-learn transformers
(they clone, take ``set_params`` and nest in pipelines). The same pipeline
with PPCA in place of the VAE is cross-validated as a reference.

Prints the cross-validated accuracies, the best parameters and the accuracy
of the refitted best pipeline on a held-out test split; writes
``pipeline.png`` (cross-validated accuracy against the latent dimension).

Run with ``python examples/pipeline.py [--output-dir DIR]`` (about 30 seconds
on 2 cores).
"""

import matplotlib.pyplot as plt
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler

from _common import Timer, parse_args, save
from vaekit import PPCA, VAE

N_COMPONENTS = (4, 8, 16)
BETAS = (0.25, 1.0)


def main():
    args = parse_args(__doc__.splitlines()[0])
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)

    pipeline = Pipeline([
        # Pixels to [0, 1] (clipped on new data), as the Bernoulli likelihood needs.
        ("scale", MinMaxScaler(clip=True)),
        # n_threads=1: the grid fits many small models, for which one thread
        # each is the fastest; GridSearchCV(n_jobs=...) can spread them over cores.
        ("vae", VAE(likelihood="bernoulli", hidden_layer_sizes=(128,), learning_rate=3e-3,
                    max_iter=10 if args.quick else 100, random_state=0, n_threads=1)),
        ("classifier", LogisticRegression(max_iter=2000)),
    ])
    search = GridSearchCV(pipeline, {"vae__n_components": N_COMPONENTS, "vae__beta": BETAS}, cv=3)
    with Timer(f"GridSearchCV, {len(N_COMPONENTS) * len(BETAS)} candidates x 3 folds"):
        search.fit(X_train, y_train)

    results = search.cv_results_
    print("\ncross-validated accuracy (VAE features):")
    for params, mean, std in zip(results["params"], results["mean_test_score"], results["std_test_score"]):
        print(f"  n_components={params['vae__n_components']:<3} beta={params['vae__beta']:<5} "
              f"{mean:.3f} +- {std:.3f}")
    test_accuracy = search.score(X_test, y_test)
    print(f"\nbest parameters: {search.best_params_}")
    print(f"test accuracy of the refitted best pipeline: {test_accuracy:.3f}")

    # The reference: the same pipeline with PPCA features.
    ppca_pipeline = clone(pipeline).set_params(vae=PPCA())
    ppca_scores = [cross_val_score(clone(ppca_pipeline).set_params(vae__n_components=d), X_train, y_train, cv=3)
                   for d in N_COMPONENTS]
    print("cross-validated accuracy (PPCA features): "
          + ", ".join(f"n_components={d}: {s.mean():.3f}" for d, s in zip(N_COMPONENTS, ppca_scores)))

    fig, ax = plt.subplots(figsize=(6.4, 4.4), layout="constrained")
    for beta, marker in zip(BETAS, ("o", "D")):
        rows = [i for i, params in enumerate(results["params"]) if params["vae__beta"] == beta]
        ax.errorbar(N_COMPONENTS, results["mean_test_score"][rows], yerr=results["std_test_score"][rows],
                    marker=marker, capsize=3, label=f"VAE features, beta = {beta:g}")
    ax.errorbar(N_COMPONENTS, [s.mean() for s in ppca_scores], yerr=[s.std() for s in ppca_scores],
                marker="s", capsize=3, color="gray", linestyle="--", label="PPCA features (reference)")
    best = search.best_params_
    ax.scatter([best["vae__n_components"]], [test_accuracy], marker="*", s=220, color="black", zorder=3,
               label=f"best VAE (beta = {best['vae__beta']:g}): test accuracy")
    ax.set_xscale("log", base=2)
    ax.set_xticks(N_COMPONENTS, [str(d) for d in N_COMPONENTS])
    ax.set_xlabel("n_components (latent dimension)")
    ax.set_ylabel("accuracy")
    ax.set_title("MinMaxScaler → VAE → LogisticRegression on the digits\n"
                 "GridSearchCV: 3-fold cross-validated accuracy (mean ± std)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    save(fig, args.output_dir, "pipeline.png")


if __name__ == "__main__":
    main()
