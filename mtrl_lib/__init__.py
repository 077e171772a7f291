"""mtrl: an executable reproduction of Collins et al. (ICML 2024), *Provable Multi-Task Representation
Learning by Two-Layer ReLU Neural Networks*. All computation lives in this package; the notebooks call it."""

__version__ = "0.1.0"
