"""rung.optim's flat Adam and RMSprop follow torch.optim's arithmetic step for step."""

import torch

from rung.optim import Adam, RMSprop


def run(make_ours, make_torch, steps=50):
    torch.manual_seed(0)
    start = torch.randn(300)
    grads = [torch.randn(300) * (1 + i % 7) for i in range(steps)]
    ours, theirs = start.clone(), start.clone().requires_grad_()
    ours_opt, theirs_opt = make_ours(ours), make_torch(theirs)
    for g in grads:
        ours.grad, theirs.grad = g.clone(), g.clone()
        ours_opt.step()
        theirs_opt.step()
    return ours, theirs.detach()


def test_adam_matches_torch():
    ours, theirs = run(lambda p: Adam(p, lr=1e-2, eps=1e-5),
                       lambda p: torch.optim.Adam([p], lr=1e-2, eps=1e-5, foreach=False))
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)


def test_rmsprop_matches_torch():
    ours, theirs = run(lambda p: RMSprop(p, lr=7e-4, alpha=0.99, eps=1e-5),
                       lambda p: torch.optim.RMSprop([p], lr=7e-4, alpha=0.99, eps=1e-5, foreach=False))
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)


def test_adam_state_round_trip_continues_identically():
    torch.manual_seed(1)
    a, b = torch.randn(50), None
    opt = Adam(a, lr=1e-3)
    for _ in range(3):
        a.grad = torch.randn(50)
        opt.step()
    b = a.clone()
    restored = Adam(b, lr=1e-3)
    restored.load_state_dict({k: v.clone() for k, v in opt.state_dict().items()})
    g = torch.randn(50)
    a.grad, b.grad = g, g.clone()
    opt.step()
    restored.step()
    assert torch.equal(a, b)
