import pytest
import torch

torch.set_num_threads(2)


@pytest.fixture
def gen():
    from mtrl_lib.tasks import make_generator

    return make_generator(1234)
