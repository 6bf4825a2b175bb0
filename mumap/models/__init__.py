"""Networks: the 3D U-Net generator and the conditional discriminators; applying a generator to whole images."""
