"""Why each surviving mutant survives: equivalent (it cannot change behaviour) or accepted (it can, but
no test on this machine can see it). tests/mutation/mutants.py writes `survivors.txt` beside its report,
each survivor with the first reason below that matches it, or "not analysed" when none does.

A reason is matched by the mutant's name (for ones read by hand) or by a pattern on the mutated line.
A pattern is only written here after reading the survivors it matches: each is a fact about NumPy,
the platform or the code, said once for all the mutants it covers.
"""
import re

EQUIVALENT = "equivalent"
ACCEPTED = "accepted"

GPU_ONLY_FUNCTIONS = ("nn.fast.kernels.", "nn.fast.cuda_graph.xǁCudaGraph", "nn.fast.cuda_graph.xǁCapturedStep",
                      "nn.fast.optim.x_adam_gpu_")

# (kind, pattern on the mutated line, why). The first match wins: put narrow patterns first.
PATTERNS = [
    (ACCEPTED, r"check_same_device\(|device_of\(None\)|on_gpu\(None\)|expected_infinities\(None\)|_kernel\(|compile_elementwise",
     "differs only with CuPy arrays on a GPU (none on this machine)"),
    (EQUIVALENT, r"get_array_module\(None\)",
     "NumPy's ufuncs and array functions hand CuPy (and the strict test type) arrays back to their own type"),
    (EQUIVALENT, r"reshape\(.*-2|!= \+1|!= -2|== \+1|== -2|\(n == -1\) and False",
     "NumPy's reshape infers a size from any negative number, not only -1"),
    (EQUIVALENT, r"copy=(None|True)|astype\(None|astype\(array\.dtype, \)|astype\(flat\.data\.dtype",
     "the assignment into the existing array copies and casts anyway"),
    (EQUIVALENT, r"usedforsecurity", "hashlib's usedforsecurity flag only matters under FIPS"),
    (EQUIVALENT, r"scratch\(", "a scratch buffer's key only has to differ from the other one in use"),
    (EQUIVALENT, r"_forward_directly = |type\(None\)\.__call__",
     "only the shortcut that calls forward directly is lost; module(x) computes the same"),
    (EQUIVALENT, r"is_repeat|2 / size|3 \* size|out / size|arange\(out, ",
     "chooses between the fast and the general path, which build the same matrix"),
    (EQUIVALENT, r"overlapping = ", "chooses the overlap-safe accumulation, which is also right without overlap"),
    (EQUIVALENT, r"\(x\.ndim == 0\) or True|asarray\(y\)", "asarray of an array is the array itself"),
    (EQUIVALENT, r"minimum\(x, 1\)",
     "min(x, 1) equals min(x, 0) wherever x <= 0; it differs only where x > 0, the branch where() discards"),
    (EQUIVALENT, r"dtype.type\(1\)|scale = 1\.0",
     "with one output pixel the scale only multiplies its index 0; or Dropout's p is 1 and every mask entry is 0 anyway"),
    (ACCEPTED, r"random\(x\.shape, ", "another but equally distributed mask; the random stream is not part of the contract"),
    (EQUIVALENT, r"XXdefaultsXX|DEFAULTS", "'defaults' is never one of its own entries"),
    (EQUIVALENT, r"XXfiuXX|XXiuXX|\"IU\"|\"FIU\"", "the same letters; a dtype kind is never 'X' or upper case"),
    (EQUIVALENT, r"getattr\(None, \"shape\"|XXshapeXX|SHAPE", "numpy.shape reads .shape itself"),
    (EQUIVALENT, r"recurse=None", "None is false, as False"),
    (EQUIVALENT, r'partition\("XX\.XX"\)\[0\] == "torch"',
     "torch.Tensor's and torch.dtype's module is torch itself, whose name has no dot"),
    (ACCEPTED, r"BackendError\(None\)", "differs only with CuPy arrays on a GPU (none on this machine)"),
]

CACHE_READ_AFTER_FORWARD = ("a cache placeholder read only by _backward, which Spatial2d.backward reaches only "
                            "after a forward has filled it (it refuses on _output_shape first)")

# (kind, function, pattern on the mutated line, why), for survivors read one by one: `function` is the
# start of mutmut's name without the number (e.g. "nn.pooling.xǁMaxPool2dǁ_forward"), so that an entry
# still holds when the mutants of a function are numbered anew after an edit.
READ_BY_HAND = [
    # core survivors, read on 7 December (tests/test_nn_mutants_layers_more.py and _module_more.py pass a
    # torch.nn.Parameter, whose type lives in torch.nn.parameter, where the partition mutants could differ)
    (EQUIVALENT, "nn.arguments.x_factory_options", r'partition\("XX\.XX"\)\[0\] == "torch"',
     "torch.device's and torch.dtype's module is torch; anything else from torch (a Parameter) fails "
     "normalize_device/normalize_dtype on both paths and is refused by the same message"),
    (EQUIVALENT, "nn.module.x__is_dtype", r'partition\("XX\.XX"\)\[0\] == "torch"',
     "torch.dtype's module is torch; a torch object that is not a dtype (a Parameter) is no NumPy dtype either: "
     "False on both paths"),
    # nn/ (each family's entries together)
    # losses/conv/optim survivors, read on 7 December
    (EQUIVALENT, "nn.losses.xǁLossǁ__init__", r'reduction="(XXmeanXX|MEAN)"\):',
     "never used: every loss (MSELoss, L1Loss, BCELoss, BCEWithLogitsLoss, and NLLLoss and CrossEntropyLoss "
     "through ClassificationLoss) passes its own reduction, default 'mean', and nn exports no bare Loss"),
    (EQUIVALENT, "nn.cross_entropy.xǁClassificationLossǁ_checked", r"expected\[2:\] if unbatched",
     "an unbatched input is reshaped to (1, C), so expected is (1,): expected[1:] and expected[2:] are both ()"),
    (ACCEPTED, "nn.cross_entropy.xǁClassificationLossǁ_checked", r"target\.astype\(x\.dtype, \)",
     "only copies a probability target already of the input's dtype; forward and backward only read it, so it "
     "differs only if the caller writes into the target between forward and backward (torch refuses that)"),
    (EQUIVALENT, "nn.cross_entropy.xǁClassificationLossǁforward", r'float\("NAN"\)',
     "float() reads 'nan' in any case: float('NAN') is the same NaN"),
    (EQUIVALENT, "nn.cross_entropy.xǁClassificationLossǁforward", r"chosen if \(not denominator\) or True",
     "only keeps the one-hot in the cache when D != 0; backward reads it only for a 'mean' with D == 0"),
    # nn/module.py: the gate
    (EQUIVALENT, "nn.module.x__checked_gradient", r"^if shape is None or \(type\(None\) is kind",
     "the shortcut is only skipped: the full checks pass every gradient it passes, and return it unchanged"),
    (ACCEPTED, "nn.module.x__checked_gradient",
     r'device = "(XXgpuXX|gpu)" if (\()?kind\.__module__\.(r?partition)\("(XX\.XX|\.)"\)\[[01]\] == "(cupy|XXcupyXX|CUPY)"',
     "the output's device, told from its array type: only a CuPy output (on a GPU) is 'gpu'"),
    (ACCEPTED, "nn.module.x__checked_input", r"type\(x\) is type\(weight\.data\)|type\(None\) is not type\(weight|"
     r"type\(x\) is not type\(None\)",
     "check_same_device passes two arrays of one library: only a CuPy input for NumPy weights (or the reverse) differs"),
    (EQUIVALENT, "nn.module.x__checked_input", r"^if type\(None\) is not numpy\.ndarray",
     "an ndarray matches none of the conversions that follow: only the test that skips them is lost"),
    (EQUIVALENT, "nn.module.x__is_dtype", r"^return True$",
     "_is_dtype(None) is asked only by to() with dtype None: taking the device None as the dtype swaps None for None"),
    (ACCEPTED, "nn.module.x__record", r'== "nn"\) or True|else type\(None\)',
     "the output's array type only tells a CuPy output (on a GPU) from a NumPy one; on the CPU the full checks "
     "pass the same gradients"),
    (EQUIVALENT, "nn.module.x__record", r'rpartition\("\."\)\[0\] == "nn"',
     "the engine's one NumPy subclass (LossValue) lives in nn.losses, whose rpartition is 'nn' too; NumPy's own "
     "module gives '' either way"),
    (EQUIVALENT, "nn.module.xǁModuleǁto", r"^break$", "'grad' is the last field: break and continue both end the loop"),
    (ACCEPTED, "nn.module.xǁModuleǁcpu", r"to\(None\)", "a model on the CPU (every test's here) stays there either way"),
    (EQUIVALENT, "nn.module.xǁRemovableHandleǁ__init__", r"_next_id (-= 1|\+= 2)",
     "the handles' ids stay distinct, which is all they are used for"),
    (EQUIVALENT, "nn.module.xǁRemovableHandleǁremove", r"get\(self\._kind, (None)?\)",
     "a handle exists only after _add_hook set its table on the module itself: the default is never used"),
    (EQUIVALENT, "nn.optimizer.xǁOptimizerǁload_state_dict", r'get\(prefix \+ "step", (None|1)?\)$',
     "the default stands in only for a missing 'step', which is refused by name anyway; a number has no ndim"),
    (EQUIVALENT, "nn.optimizer.x__per_parameter", r'getattr\(steps, "ndim", None\)',
     "None is false, as 0: a step count without ndim (a Python number) is one number either way"),
    (EQUIVALENT, "nn.module.xǁModuleǁnamed_", r"named_modules\(prefix=prefix, remove_duplicate=None\)",
     "a module held twice is then walked twice, but every parameter or buffer it holds is dropped the second time "
     "as already seen (by id); with remove_duplicate=False, None is false as False"),
    (EQUIVALENT, "nn.module.xǁModuleǁto", r"named_buffers\(recurse=False, remove_duplicate=None\)",
     "None is false, as False: every name of a buffer is still moved"),
    (EQUIVALENT, "nn.module.xǁModuleǁ_named_state", r"recurse=False, remove_duplicate=None\)",
     "None is false, as False: every name of a buffer is still saved"),
    (EQUIVALENT, "nn.optimizer.xǁOptimizerǁload_state_dict", r'getattr\(steps, "ndim", None\)',
     "None is false, as 0: a step count without ndim is one number either way"),
    (EQUIVALENT, "nn.optimizer.xǁOptimizerǁload_state_dict", r"^(None, copy=False|parameter\.dtype, )\)$",
     "the assignment into the state array (state[name][...] = ...) casts to its dtype anyway"),
    (EQUIVALENT, "nn.optimizer.xǁOptimizerǁload_state_dict", r"^\)$",
     "astype without copy=False: the assignment into the state array copies anyway"),
    (ACCEPTED, "nn.fast.cuda_graph.xǁCapturedStepǁstep",
     r"device_of\(self\.input\) == \"(XXgpuXX|GPU)\"|device_of\(x\) == \"XXcpuXX\"",
     "the other branch's item assignment copies the NumPy batch to the device as well (CuPy's setitem, like the "
     "fake CuPy's in tests/helpers_fake_cupy.py, takes a host array and casts it): the same values in the buffer"),
    (EQUIVALENT, "nn.fast.cuda_graph.xǁCapturedStepǁstep",
     r"self\.input\.set\(x\.astype\(self\.input\.dtype, (order=(None|\"C\"|\"c\"), )?(copy=(None|True|False))?\)\)",
     "CuPy's set lays a host array out in the buffer's own order itself, and astype with or without a copy, in "
     "'C', 'c' or NumPy's default order, holds the same values"),
    (ACCEPTED, "nn.fast.kernels.x_fused",
     r"hasattr\(argument, \"dtype\"\)\) and False|hasattr\(None, \"dtype\"\) else|hasattr\(argument, \"(XXdtypeXX|DTYPE)\"\) else",
     "every array then goes through its dtype's scalar type, numpy.float64(array): CuPy refuses that implicit "
     "device-to-host conversion, but the fake CuPy's arrays are NumPy arrays, which it hands back unchanged"),
    (EQUIVALENT, "nn.fast.kernels.x_fused", r"hasattr\(argument, \"dtype\"\)\) or True else",
     "a number is then passed as a Python float, which the ElementwiseKernel casts to T as dtype.type would"),
    (EQUIVALENT, "nn.fast.step.xǁFastStepǁ__init__", r"self\._prediction = self\._target = \"\"",
     "placeholders read only by backward's fused-output branch, after forward has set them"),
    (EQUIVALENT, "nn.fast.step.xǁFastStepǁbackward", r"self\._target\.astype\(y\.dtype, \)",
     "astype without copy=False only copies the target; the kernel reads the same values"),
    (EQUIVALENT, "nn.fast.step.xǁ", r"^def backward\(self, grad_output, need_input_grad=False\):$",
     "every caller passes need_input_grad (FastStep.backward, FastLinear's own path): the default is never used"),
    (EQUIVALENT, "nn.fast.step.xǁ", r"_hooks\) or True else",
     "running a module's empty table of hooks changes nothing"),
    (EQUIVALENT, "nn.fast.step.xǁFastLinearǁ", r"^self\._own = None",
     "None is false, as False"),
    (EQUIVALENT, "nn.fast.step.xǁFastLinearǁ__init__", r"^self\._own = True",
     "read only by backward, after a forward has set it"),
    (EQUIVALENT, "nn.fast.step.xǁGatedǁbackward", r"needs_input_grad = None$", "None is false, as False"),
    (ACCEPTED, "nn.fast.step.", r"xp_of\(None\)", "differs only with CuPy arrays on a GPU (none on this machine)"),
    (ACCEPTED, "nn.fast.step.x__gate_of", r"type\(None\)$",
     "the recorded array type only tells a CuPy output (on a GPU) from a NumPy one; on the CPU the gate's full "
     "checks pass the same gradients"),
    (ACCEPTED, "nn.fast.activations.x_sigmoid", r"out=None\)|\(1, y, \)|negative\(x, \)",
     "for an input of one or more dimensions a new array or the same one in place hold the same numbers: only "
     "the memory differs (a 0-d input, where a scalar would come back, is held to the plain Sigmoid)"),
    (ACCEPTED, "nn.fast.cuda_graph.xǁCapturedStepǁ_adam", r'!= "XXgpuXX"',
     "differs only with CuPy arrays on a GPU (none on this machine)"),
    # nn/fast survivors, read on 7 December
    (EQUIVALENT, "nn.fast.step.x__same_kind", r"like\.shape or array\.dtype|type\(like\) or array\.shape",
     "on the CPU the loss's forward leaves pred - target of pred's shape and dtype (check_pair casts the target; "
     "the fused forward needs one dtype): only a 0-d output's differs in type (a NumPy scalar), where the reusing "
     "form gives the kernel's numbers, in a 0-d array too"),
    (EQUIVALENT, "nn.fast.step.x_compile", r'^return FastStep\(model, loss, None, None, "',
     "None is false, as False"),
    (EQUIVALENT, "nn.fast.step.xǁFastStepǁbackward", r'getattr\(self\.loss, "_difference", \)',
     "read only after backward's refusal has seen a forward, and both forwards (the fused one and "
     "MSELoss.forward) set loss._difference: the default is never used"),
    (EQUIVALENT, "nn.fast.cuda_graph.xǁCapturedStepǁ__init__", r"^self\._graph_unreached = None",
     "read only after a graph is captured, whose body sets it"),
    (EQUIVALENT, "nn.fast.optim.xǁFlatFormǁstep", r"_rescale\(index, None\)",
     "called only with index in _rescaled, where (True == None) and (True == False) are both false, and None is "
     "false as False"),
    (EQUIVALENT, "nn.losses.xǁLossValueǁ", r"^return self\.view\(None\)$",
     "ndarray.view(None) keeps the array's own type, LossValue (no class derives from it); __array_finalize__ "
     "carries the loss's name either way"),

    (EQUIVALENT, "nn.im2col.x_conv2d_backward", r"concatenate\(grad_weights, \)",
     "concatenate's default axis is 0, the axis written"),
    (EQUIVALENT, "nn.im2col_fast.x_im2col_channels_last", r"or x\.transpose\(0, 2, 3, 1\)\.flags\.c_contiguous:",
     "without padding both branches give the same columns: the test only picks whether the input is first "
     "copied to channels-last memory, and the columns are never written to"),
    (EQUIVALENT, "nn.padding.x_source_index", r"-i if i (<= 0|< 1) else",
     "i = 0 lies inside the input (size >= 1) and is returned by the first test; reflect only sees i < 0 or i >= size"),
    (EQUIVALENT, "nn.pooling.xǁAvgPool2dǁ__init__", r'= ""$', CACHE_READ_AFTER_FORWARD),
    (EQUIVALENT, "nn.pooling.xǁMaxPool2dǁ__init__", r'= ""$', CACHE_READ_AFTER_FORWARD),
    (EQUIVALENT, "nn.pooling.xǁ_Pool2dǁ_setup", r'_input_shape = ""$', CACHE_READ_AFTER_FORWARD),
    (EQUIVALENT, "nn.upsampling.xǁUpsampleǁ__init__", r'= ""$', CACHE_READ_AFTER_FORWARD),
    (ACCEPTED, "nn.upsampling.xǁUpsampleǁ_plan", r"m != numpy\.repeat",
     "whole factors then take the general nearest path, which sums each block's gradients by rows then columns "
     "where the fast form goes row-major: equal up to rounding (and overflow) order, which no contract fixes"),
    *((EQUIVALENT, function, r'= ""$', CACHE_READ_AFTER_FORWARD)
      for function in ("nn.conv.xǁConv2dǁ_clear_cache", "nn.conv.xǁConvTranspose2dǁ_clear_cache",
                       "nn.pooling.xǁAvgPool2dǁ_clear_cache", "nn.pooling.xǁMaxPool2dǁ_clear_cache",
                       "nn.upsampling.xǁUpsampleǁ_clear_cache")),
    (EQUIVALENT, "nn.spatial.xǁSpatial2dǁforward", r"self\._output_shape = (None$|\(result\[0\] if \(type)",
     "_output_shape is written and no longer read: the gate (nn/module.py) checks that forward ran"),
    (EQUIVALENT, "nn.conv.xǁ_ConvBaseǁ_check", r"raise TypeError\(None\)",
     "the gate refuses an input of another dtype than the weight's before forward reaches this check"),
    (EQUIVALENT, "nn.upsampling.x_bilinear_", r"dtype=None\)|zeros\(\(?out(, size\))?, \)|\(depth, size\), \)",
     "the weights keep the values computed in the input's dtype, in a float64 array: they multiply into the "
     "input's arrays in place, and a product of two float32 numbers is exact in float64, so it rounds to the same "
     "float32 (bilinear_matrix itself only states the map, in float64, for a test)"),
    (EQUIVALENT, "nn.upsampling.xǁUpsampleǁ_plan", r'"(XXtapsXX|TAPS)"',
     "the bilinear plan is the else branch of the kinds compared ('repeat', 'gather'): its own name is never read"),
    (EQUIVALENT, "nn.spatial.xǁSpatial2dǁ_clear_cache", r'_output_shape = ""$',
     "every Spatial2d subclass (Conv2d, ConvTranspose2d, MaxPool2d, AvgPool2d, Upsample) overrides _clear_cache"),
    (EQUIVALENT, "nn.spatial.xǁSpatial2dǁforward", r"result\[1\] if type\(result\) is tuple",
     "the only tuple result is MaxPool2d's (maximum, indices), two arrays of one shape"),
    (EQUIVALENT, "nn.pooling.", r"channels_last=None", "None is false, as False"),
    (EQUIVALENT, "nn.pooling.", r"\) or True else x$", "padding.pad with ((0, 0), (0, 0)) returns its input itself"),
    (EQUIVALENT, "nn.pooling.", r'pad\(x, pads, (None|"XXzerosXX"|"ZEROS")',
     "padding.source_index gives None (the fill) outside the input for every mode but reflect, replicate and circular"),
    (EQUIVALENT, "nn.pooling.", r"pads != \(\(1, 0\), \(0, 0\)\)|pads != \(\(0, 0\), \(1, 0\)\)",
     "_geometry never pads the start of an axis more than its end, so pads (1, 0) never occur; and padding by "
     "((0, 0), (0, 0)) returns x and leaves every tap inside"),
    (EQUIVALENT, "nn.pooling.", r"dilation, (None)?\)$|\(1, 1\), (None)?\)\.sum|pads, None\)$",
     "windows() without out_size counts the windows that fit the padded input, which _geometry sized to hold "
     "exactly out_size of them"),
    (EQUIVALENT, "nn.pooling.xǁ_Pool2dǁ_geometry", r"min\(out_size\) <= 1",
     "an output of 1 means the padded input holds the kernel's reach: the extra windowed_size call returns "
     "without raising and its result is unused"),
    (EQUIVALENT, "nn.pooling.xǁ_Pool2dǁ_geometry", r"windowed_size\(layer, size, self\._kernel, None",
     "windowed_size raises before it reads the stride: _geometry calls it only when an output is empty, "
     "i.e. the kernel's reach exceeds the padded input"),
    (EQUIVALENT, "nn.pooling.xǁ_Pool2dǁ_setup", r"p > r / 2",
     "the padding is an integer (pair checks it), and for integers p > r // 2 exactly when p > r / 2"),
    (EQUIVALENT, "nn.upsampling.x_bilinear_taps", r"size \+ 1\)$",
     "floor(source) never exceeds size - 1 (source <= size - 1 with align_corners, < size - 0.5 without)"),
    (EQUIVALENT, "nn.upsampling.x_bilinear_taps", r"dtype\.type\(None\)\), one\)",
     "source - low >= 0 (low = floor(source)), and Python's max keeps its first argument against a NaN"),
    (EQUIVALENT, "nn.upsampling.x_nearest_matrix", r"arange\(out\) / \(out // size\)",
     "astype(int64) truncates the non-negative quotient as // floors it"),
    (EQUIVALENT, "nn.conv.xǁConv2dǁ__init__", r"transposed=None\)", "None is false, as False"),
    (EQUIVALENT, "nn.conv.xǁConv2dǁ__init__", r'= ""$', CACHE_READ_AFTER_FORWARD),
    (EQUIVALENT, "nn.conv.xǁConvTranspose2dǁ__init__", r'= ""$', CACHE_READ_AFTER_FORWARD),
    (EQUIVALENT, "nn.conv.xǁConv2dǁ_backward", r"if \(groups != 1\) or True",
     "the grouped view of the gradient rows is only read when groups > 1; with one group it is made and dropped"),
    (ACCEPTED, "nn.gradcheck.x__directional", r"errstate\(invalid=None\)",
     "only a RuntimeWarning about +inf - inf differs; the check fails on the NaN either way"),
    (ACCEPTED, "nn.gradcheck.x__directional", r"isfinite\(worst\[1\]\)",
     "a NaN gradient makes every direction's error NaN; only a function that is NaN on one side of the point "
     "in some directions could tell, which no test builds"),
    (ACCEPTED, "nn.gradcheck.x__directional", r"not error <= worst\[0\]",
     "in a tie of equal errors the report names the first direction instead of the last: same error, same verdict"),
    (ACCEPTED, "nn.conv.xǁConvTranspose2dǁ__init__", r"^None, dtype, rng",
     "device None is the CPU, where every test here runs; only a GPU device would differ"),
    (EQUIVALENT, "nn.layers.x__factory_options", r'partition\("XX\.XX"\)',
     "torch.device and torch.dtype are types of the module torch itself, whose name has no dot"),
    (EQUIVALENT, "nn.", r'"(CPU|GPU)"', "device names are normalized to lower case (backend.normalize_device)"),
    (ACCEPTED, "nn.fast.cuda_graph.xǁCudaGraphsǁ", r".",
     "CUDA's side of the captured step: built only with CuPy on a GPU (the CPU tests replace it by a double)"),
    (EQUIVALENT, "nn.gradcheck.x__directional", r"norm\(direction\) or 2\.0",
     "only an all-zero direction reaches `or`, and zero divided by anything is zero"),
    (EQUIVALENT, "nn.gradcheck.x__directional", r"^worst = \(",
     "the first direction always replaces the initial worst (its error is >= 0 or NaN)"),
    (EQUIVALENT, "nn.gradcheck.x_gradcheck", r'astype\("float64", \)', "astype copies by default"),
    (EQUIVALENT, "nn.gradcheck.x_gradcheck", r"\(None,\) \* \(len\(inputs\) [+-] [12]\)",
     "zip stops at the shorter: the inputs after the first have no gradient however many Nones follow"),
    (EQUIVALENT, "nn.backend.xǁSeededGeneratorsǁset_state", r"new_generator\((None, \"cpu\"|self\.seed, )\)",
     "the new generator's state is overwritten by the saved one on the next line; the device defaults to cpu"),
    (EQUIVALENT, "nn.backend.x_keep_freed_memory", r'get\("NN_KEEP_FREED_MEMORY", (None|"XX1XX")?\)',
     "the default only has to differ from '0'"),
    (EQUIVALENT, "nn.norm.xǁ_BatchNormǁforward", r"count = x\.size / self\.num_features",
     "the count is only compared with 1 and divided by: a float of the same value does both alike"),
    (ACCEPTED, "nn.norm.xǁLayerNormǁ", r"x_hat, None\)|leading, None\)",
     "NumPy's reshape(None) keeps gamma's shape (normalized_shape), which broadcasts over the last axes as "
     "the explicit view does; only CuPy might refuse None"),
    (EQUIVALENT, "nn.cross_entropy.xǁClassificationLossǁ_undefined_mean_gradient",
     r'asarray\(None, dtype=x\.dtype\)|float\("NAN"\)',
     "NumPy reads None as NaN in a float array, and float() reads 'NAN' as 'nan'"),
    (EQUIVALENT, "nn.losses.x_check_pair", r"astype\(pred\.dtype, \)",
     "the target is only read: its copy gives the same numbers"),
    (EQUIVALENT, "nn.losses.xǁLossǁreduce", r"asarray\(value, (dtype=None)?\)",
     "the sum or mean of terms is a NumPy scalar of terms' dtype already: the cast changes nothing"),
    (ACCEPTED, "nn.losses.xǁLossValueǁ__array_finalize__", r'getattr\(obj, "_loss_name", None\)',
     "the default names the loss of a LossValue made by hand from a plain array; a loss always names itself"),
    *((EQUIVALENT, function, r'^self\._(cache|difference|output|input|input_shape|scaled_mask) = ""$',
       "a placeholder read only by backward, which the gate refuses until a forward has filled it")
      for function in ("nn.losses.", "nn.norm.", "nn.softmax.", "nn.activations.", "nn.layers.")),
    (EQUIVALENT, "nn.arguments.x_as_array", r"\) and False else x$",
     "every loss computes on a NumPy scalar as on the 0-d array it would become (tests/test_nn_mutants_layers_arguments.py "
     "holds MSE, L1 and both BCEs to that)"),
    (EQUIVALENT, "nn.arguments.x_loss_array", r"^if type\(None\) is numpy\.ndarray",
     "the common case is only a shortcut: the full checks return the same array"),
    (ACCEPTED, "nn.arguments.x_constant_array", r'hasattr\((None, "dtype"|value, "(XXdtypeXX|DTYPE)")\)',
     "a NumPy weight is then copied as float64, which on_device_of casts to the input's dtype where it is used: "
     "only a CuPy weight (on a GPU), which numpy.asarray refuses, would differ"),
    (EQUIVALENT, "nn.softmax.x__as_vectors", r"\(x\.ndim == 0\) and False|reshape\(None\)",
     "NumPy reduces a 0-d array along axis 0 as the one-element vector, and reshape(None) keeps its shape: the "
     "same 0-d softmax and gradient (tests/test_nn_mutants_losses.py holds them to torch's)"),
    (EQUIVALENT, "nn.norm.xǁLayerNormǁforward", r"_check_dtype_and_device\(",
     "with a weight the gate (_checked_input) has refused an input of another dtype before forward; without "
     "one there is nothing to check"),
    (EQUIVALENT, "nn.norm.xǁ_BatchNormǁforward", r"is not None\) and False else self\.running_mean",
     "running_mean has the weight's dtype and device (built and moved together), and the gate checked the weight's"),
    (EQUIVALENT, "nn.cross_entropy.xǁClassificationLossǁ_target_weights", r"if \(smoothing\) or True",
     "with label_smoothing 0 the smoothed formula gives target * 1 + 0: the same numbers"),
    (EQUIVALENT, "nn.cross_entropy.xǁClassificationLossǁ_target_weights", r"target\.size / classes",
     "D is only ever divided by, and an int and a float of the same value divide alike"),
    (EQUIVALENT, "nn.cross_entropy.xǁClassificationLossǁ_target_weights", r"where\(kept, target, 1\)",
     "an ignored sample's one-hot is masked by `& kept`, whichever class it points at"),
    (ACCEPTED, "nn.cross_entropy.xǁClassificationLossǁ_target_weights", r"where\(kept, target, None\)",
     "NumPy builds an object array whose comparisons give the same one-hot; only CuPy would refuse it"),
    (EQUIVALENT, "nn.cross_entropy.xǁClassificationLossǁbackward", r"reshape\(None\)|\(unbatched\) and False",
     "an unbatched input's upstream is 0-d: with or without the leading 1 it broadcasts alike against q"),
    # gans/
    (EQUIVALENT, "gans.models.xǁDiscriminatorǁbackward", r"\(self\.classes\) or True",
     "an unconditional input has image_dim columns: keeping the first image_dim keeps them all"),
    (EQUIVALENT, "gans.quality.x_frechet_distance", r"rowvar=None", "None is false, as False"),
    (ACCEPTED, "gans.quality.x_frechet_distance", r"clip\(cross, None, None\)",
     "the eigenvalues of the covariances' product are >= 0 but for rounding: only a negative residue, which no "
     "test builds, would turn into NaN"),
    (EQUIVALENT, "gans.quality.x_class_entropy", r"classes=11|bincount\(numpy\.asarray\(predictions\), \)",
     "classes no prediction names count 0 and are dropped before the entropy"),
    (EQUIVALENT, "gans.quality.x_train_classifier", r"nn\.Adam\(classifier\.parameters\(\), \)",
     "Adam's own default lr is 1e-3, the one passed"),
    (ACCEPTED, "gans.quality.x_train_classifier", r"epochs=6|batch_size=65|lr=1\.001|seed=(1|None)\)?|"
     r"labels=labels, seed=seed\)",
     "a default of the quality classifier's training (epochs, batch, lr, seed): the tests train it with their "
     "own numbers, and no contract fixes the defaults' values"),
    (EQUIVALENT, "gans.quality.xǁDigitClassifierǁ", r"batch_size=1001|astype\(self\.dtype, \)",
     "the batch size never changes a row's result, and astype's copy holds the same numbers"),
    (EQUIVALENT, "gans.training.x__targets", r"dtype=None\)|value, \)",
     "the loss casts its target to the logits' dtype (nn.losses.check_pair)"),
    (ACCEPTED, "gans.training.x_fit_gan", r"labels\(count, None\)",
     "differs only with CuPy arrays on a GPU (none on this machine)"),
    (ACCEPTED, "gans.training.x_gan_step", r"fake_labels, (None)?\)$",
     "gan_step's caller (fit_gan) passes no loss, so None, the default, either way; a custom loss reaches the "
     "steps only through a direct call, which no command makes"),
    (ACCEPTED, "gans.training.xǁNoiseSourceǁ__init__", r"seed=1\)",
     "the default seed's value: every caller passes its run's seed"),
    # runfolder/
    (EQUIVALENT, "runfolder.folder.x_open_regular", r'getattr\(os, "O_NONBLOCK", (1|None|)\)',
     "os.O_NONBLOCK exists on every POSIX system (getattr's default stands in for Windows, which has no FIFOs): "
     "the default is never read here"),
    (ACCEPTED, "runfolder.folder.x_open_regular", r'^mode = ""$',
     "lstat fails there only when the path vanished or became unreachable between the open and the lstat "
     "(a race no test stages); open's own error is then reported either way, or a TypeError"),
    (EQUIVALENT, "runfolder.folder.x_open_regular", r'getattr\(None, "O_BINARY", 0\)|"(XXO_BINARYXX|o_binary)", 0\)',
     "os.O_BINARY exists only on Windows: on POSIX the flag is 0 whichever name or object is asked"),
    (EQUIVALENT, "runfolder.checkpoint_checks.x_check_adam_state", r"nn\.Linear\((2, 1|1, 2)\)",
     "the probe Adam is asked only for its entries' names and hyperparameters, which no layer size changes"),
    (EQUIVALENT, "runfolder.checkpoint_checks.x_check_adam_state", r"getattr\(nn\.Adam, \"optional\", (None)?\)",
     "nn.Adam has `optional`: getattr's default is never used"),
    (EQUIVALENT, "runfolder.checkpoint_checks.x_check_arrays", r"XXbiufXX", "a dtype kind is one letter, never 'X'"),
    (EQUIVALENT, "runfolder.checkpoint_checks.x_check_generator_state", r"default_rng\((None|1)\)",
     "the probe generator's seed is overwritten by the state checked, and the setter's checks ignore it"),
    (EQUIVALENT, "runfolder.checkpoint.x_save_checkpoint", r"hasattr\(value, \"shape\"\)\) or True",
     "backend.to_numpy of a number or a tuple is numpy.asarray, the same array numpy.array makes"),
    (EQUIVALENT, "runfolder.checkpoint.x_load_checkpoint", r"allow_pickle=(None|True)\)|load\(path, \)",
     "_check_sizes refuses every object-dtype header before numpy.load: no member left needs unpickling"),
    (EQUIVALENT, "runfolder.checkpoint.x__check_sizes", r"XXholds a pickled objectXX|HOLDS A PICKLED OBJECT",
     "the text is only searched, lower-cased, for 'pickle'"),
    (EQUIVALENT, "runfolder.folder.x_atomic_write_named", r"getattr\(None, \"O_BINARY\"|XXO_BINARYXX|o_binary|"
     r"\"O_BINARY\", 1\)", "O_BINARY exists only on Windows: on POSIX the flag is 0 (and 1 is O_WRONLY, set anyway)"),
    (EQUIVALENT, "runfolder.folder.xǁRunFolderǁ__init__", r"self\._lock = \"\"",
     "the lock is only released after _take_lock set it or a release reset it to None"),
    (EQUIVALENT, "runfolder.folder.xǁRunFolderǁ_take_lock", r"same = None", "None is false, as False"),
    (EQUIVALENT, "runfolder.folder.xǁRunFolderǁ_take_lock", r"ftruncate\(descriptor, 1\)",
     "the pid and newline then written from offset 0 are longer than 1 byte: the same file"),
    # datasets/ and autoencoders/
    (ACCEPTED, "datasets.loading.x__cached_split", r"unlink\(missing_ok=(None|False)\)",
     "the file was a file a line before: only another process deleting it in between would make unlink fail"),
    (EQUIVALENT, "datasets.loading.x__cached_split", r'^return paths, "XXXX"$',
     "load reads the reason only when no paths were found (paths is None)"),
    (EQUIVALENT, "datasets.loading.x_load", r'^download_failure = ""$',
     "read only by the offline sample's note after a failed download, which sets it; with the network off the "
     "note names that instead"),
    (EQUIVALENT, "datasets.loading.x_search_dirs", r"^candidates = \[\(root / name",
     "candidates is still the empty list there: assigning and extending it give the same list"),
    (EQUIVALENT, "datasets.loading.x__warn_sample", r'key="(XXmnist offline sampleXX|MNIST OFFLINE SAMPLE)"',
     "the note's key only has to be one for both splits' notes (it is written once, here) and none of another "
     "note (no other note has a key): any text does both"),
    (EQUIVALENT, "datasets.download.x__fetch_from_mirrors", r"MIRRORS\.get\(name, (None)?\)",
     "`if not mirrors` refuses None as it refuses []"),
    (EQUIVALENT, "datasets.download.x_fetch", r'"(content-length|CONTENT-LENGTH|user-agent|USER-AGENT)"',
     "HTTP header names are case-insensitive, and urllib and http.client match them so"),
    (EQUIVALENT, "datasets.idx.x__read_up_to", r"len\(data\) <= size",
     "one more turn at the full size reads 0 bytes and breaks"),
    (EQUIVALENT, "datasets.idx.x_read_idx", r"stream\.read\((None|2)\)",
     "any byte after the payload is refused; reading one, two or all of them tells the same"),
    (EQUIVALENT, "datasets.idx.x_read_idx", r'newbyteorder\("="\), \)',
     "astype's own copy of an array that is already a fresh bytearray view: the same values, writable either way"),
    (EQUIVALENT, "datasets.idx.x_write_idx", r"ndim (< 255|<= 256)", "NumPy arrays have at most 64 dimensions"),
    (EQUIVALENT, "datasets.idx.x_write_idx", r"GzipFile\((filename=None, |filename=\"\", mode=None, |mode=\"wb\", |"
     r"filename=\"\", fileobj)",
     "atomic_write's file has no path name and is opened for writing, which gzip takes as the name ('') and mode"),
    (EQUIVALENT, "datasets.loading.x__check_local_md5", r"if \(gzipped\) or True",
     "for a file that is not gzipped the second lookup repeats the first, of the same md5"),
    *((EQUIVALENT, function, r"read\((None|2 << 20|1 << 21)\)|gzip\.open\(path, \)",
       "blocks of any size, or all at once, hash to the same md5; gzip.open reads bytes by default")
      for function in ("datasets.loading.x__md5", "datasets.loading.x__content_md5")),
    (EQUIVALENT, "datasets.loading.x__local_split", r'return paths, "XXXX"',
     "the reason is read only when no paths are found"),
    (EQUIVALENT, "datasets.images.xǁ_NpyImagesǁ__init__", r"allow_pickle=(True|None)|mmap_mode=\"r\", \)",
     "a memory map refuses an object array whatever allow_pickle says"),
    (ACCEPTED, "datasets.images.xǁ_NpyImagesǁ__init__", r"mmap_mode=None|load\(path, allow_pickle=False\)",
     "the file is read whole instead of mapped: the same images in more memory, which no test measures"),
    (EQUIVALENT, "datasets.images.xǁ_NpyImagesǁ__init__", r"self\.side = shape\[2\]",
     "this branch is only taken when shape[1] == shape[2]"),
    (EQUIVALENT, "datasets.images.xǁ_ImageFolderǁ_read_one", r"scale\(values, None\)",
     "the path only names the file in scale's refusal, and an image converted to 'L' is uint8, which scale takes"),
    (EQUIVALENT, "datasets.sample.x_load_sample", r"range\(11\)", "labels above 9 are refused before this loop"),
    (EQUIVALENT, "datasets.sample.x_load_sample", r"gzip\.open\(path, \)",
     "the table parser takes the lines as bytes as well as text"),
    (EQUIVALENT, "datasets.dataloader.x__collate", r"dtype=None\)|np\.array\(values, \)|type\(None\) in \(bool",
     "NumPy infers bool for Python bools, int64 for Python ints (on this 64-bit platform) and float64 once one "
     "is a float: the dtype named is the one inferred, and 0-d arrays of them stack to the same"),
    (ACCEPTED, "datasets.dataloader.x__collate", r"_module_of\(None\)",
     "differs only with CuPy items (on a GPU): NumPy is the module either way here"),
    (ACCEPTED, "datasets.dataloader.x__module_of", r".",
     "tells a CuPy item (on a GPU, none on this machine) from a NumPy one: every item here is NumPy's"),
    (ACCEPTED, "datasets.dataloader.x__map_arrays", r"and False",
     "on the CPU the function mapped is the identity (DataLoader._move): only device='gpu' would copy a list"),
    (ACCEPTED, "datasets.images.x__real_format", r"read\((None|17)\)",
     "a longer prefix: Pillow's signature tests read the first bytes only, and none of its formats needs more "
     "than 16 to be told"),
    # autoencoders/
    (EQUIVALENT, "autoencoders.vae.xǁVariationalAutoencoderǁbackward", r"RuntimeError\(|called before forward|"
     r"CALLED BEFORE FORWARD|call the model on an input first|CALL THE MODEL",
     "the gate (nn/module.py) refuses a backward before any forward first, in its own words: this refusal "
     "is never reached through the model"),
    (EQUIVALENT, "autoencoders.vae.xǁVariationalAutoencoderǁ_clear_cache", r'= ""',
     "a placeholder read only by backward, which the gate refuses until a forward has filled it"),
    (EQUIVALENT, "autoencoders.models.xǁAutoencoderǁ", r'self\._code = ""',
     "a placeholder read only by backward, which the gate refuses until a forward has filled it"),
    *((ACCEPTED, function, r"batch_size=1001",
       "the default batch only splits the sum over the images (eps is drawn row after row from one stream "
       "either way): the same value up to rounding, which no contract fixes")
      for function in ("autoencoders.vae.x_elbo_terms", "autoencoders.vae.x_negative_elbo")),
    (ACCEPTED, "autoencoders.vae.x_elbo_terms", r"new_generator\(seed, \)",
     "new_generator's default device is the CPU: differs only with CuPy images on a GPU (none on this machine)"),
    (EQUIVALENT, "autoencoders.run_checks.x_check_config_types", r'get\("image_size", 29\)',
     "the default stands only for a checkpoint written before image_size existed: 28 and 29 both lie in "
     "(0, MAX_IMAGE_SIZE], so the check passes either way"),
    (EQUIVALENT, "autoencoders.fast_steps.xǁFastStepsǁstep", r"need_input_grad=(None|True)",
     "x is the data: its gradient, computed or not, is dropped; the parameters' gradients are the same "
     "(None is false, as False)"),
]


def _changed_lines(diff):
    minus = [line[1:].strip() for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    plus = [line[1:].strip() for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    return " | ".join(minus), " | ".join(plus)


def reason(mutant, status, diff):
    """(kind, why) for one survivor; kind is EQUIVALENT, ACCEPTED or "not analysed"."""
    function = mutant.rsplit("__mutmut_", 1)[0]
    _, plus = _changed_lines(diff)
    for kind, prefix, pattern, why in READ_BY_HAND:
        if function.startswith(prefix) and re.search(pattern, plus):
            return kind, why
    if status == "no tests" and mutant.startswith(GPU_ONLY_FUNCTIONS):
        return ACCEPTED, "CuPy-only code (kernels, CUDA graphs), reached only on a GPU by tests/test_nn_*gpu*.py"
    for kind, pattern, why in PATTERNS:
        if re.search(pattern, plus):
            return kind, why
    return "not analysed", "no reason written yet: a gap in the tests, or equivalent, undecided"


def grouped(modules):
    """[(kind, why, {source file: count})], the most frequent reason first: the survivors by reason."""
    groups = {}
    for source, row in modules.items():
        for survivor in row["surviving"]:
            files = groups.setdefault(reason(survivor["mutant"], survivor["status"], survivor["diff"]), {})
            files[source] = files.get(source, 0) + 1
    return sorted(((kind, why, files) for (kind, why), files in groups.items()),
                  key=lambda group: (-sum(group[2].values()), group[0], group[1]))


def survivors_text(modules):
    """The survivors by reason, then one entry per survivor: name, status, reason, the changed line."""
    counts = {}
    entries = []
    for source, row in sorted(modules.items()):
        for survivor in row["surviving"]:
            kind, why = reason(survivor["mutant"], survivor["status"], survivor["diff"])
            counts[kind] = counts.get(kind, 0) + 1
            minus, plus = _changed_lines(survivor["diff"])
            entries += [f"{survivor['mutant']} [{survivor['status']}]: {kind}: {why}",
                        f"    - {minus[:200]}", f"    + {plus[:200]}"]
    head = ["# Surviving mutants, each with why it survives (tests/mutation/mutant_reasons.py):",
            "# " + ", ".join(f"{count} {kind}" for kind, count in sorted(counts.items())) if counts else "# none", ""]
    for kind, why, files in grouped(modules):
        where = ", ".join(f"{source} {count}" for source, count in sorted(files.items()))
        head.append(f"{sum(files.values()):4d}  {kind}: {why}  ({where})")
    return "\n".join(head + [""] + entries) + "\n"
