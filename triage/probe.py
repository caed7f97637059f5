"""A linear probe over the embeddings, trained on the KB's example concerns.

kNN answers "which concern is this most like"; the probe answers "which
field is this about", using every concern of a field at once. On the dev
set it reads the field far better than nearest neighbours, and it is
retrained (in well under a second for a thousand concerns) whenever the KB
changes, so admins' new concerns count at once. Full-batch gradient descent
from zeros: the same KB always gives the same probe.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from .embedder import Vectors

Floats = npt.NDArray[np.float64]


class CategoryProbe:
    """Multinomial logistic regression on standardised embeddings."""

    def __init__(
        self,
        classes: Sequence[str],
        *,
        l2: float = 0.1,
        iterations: int = 300,
        learning_rate: float = 0.5,
    ) -> None:
        self.classes = list(classes)
        self.l2 = l2
        self.iterations = iterations
        self.learning_rate = learning_rate
        self._mu: Floats | None = None
        self._sd: Floats | None = None
        self._w: Floats | None = None
        self._b: Floats | None = None

    @property
    def trained(self) -> bool:
        return self._w is not None

    def fit(self, vectors: Vectors, labels: Sequence[str]) -> CategoryProbe:
        """Train on concern vectors and their categories (unknown labels skipped)."""
        index = {c: i for i, c in enumerate(self.classes)}
        keep = [i for i, label in enumerate(labels) if label in index]
        if not keep:
            self._w = None
            return self
        x = vectors[keep].astype(np.float64)
        y = np.array([index[labels[i]] for i in keep])
        self._mu = x.mean(axis=0)
        self._sd = x.std(axis=0) + 1e-6
        xs = (x - self._mu) / self._sd
        n, d = xs.shape
        k = len(self.classes)
        targets = np.eye(k)[y]
        w = np.zeros((d, k))
        b = np.zeros(k)
        for _ in range(self.iterations):
            p = _softmax(xs @ w + b)
            g = (p - targets) / n
            w -= self.learning_rate * (xs.T @ g + self.l2 * w)
            b -= self.learning_rate * g.sum(axis=0)
        self._w, self._b = w, b
        return self

    def predict(self, vectors: Vectors) -> Floats:
        """Per row, a probability per class (uniform when untrained)."""
        if self._w is None or self._b is None or self._mu is None or self._sd is None:
            return np.full((len(vectors), len(self.classes)), 1 / len(self.classes))
        return _softmax(((vectors - self._mu) / self._sd) @ self._w + self._b)


def _softmax(z: Floats) -> Floats:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: Floats = e / e.sum(axis=1, keepdims=True)
    return out
