from .encoder import PatchStem, PixelEncoder
from .projection import PointwiseMLP, Projection
from .waves import build_plane_waves, line_waves, resize_position_table
