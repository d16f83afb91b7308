def inject(ctx, kinds):
    return []
def finalize(ctx, world, injected):
    return [], []
