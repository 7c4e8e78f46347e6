# ctest script: `nst weights convert` turns a PyTorch 0.x-style legacy .pth (torchvision key
# layout, tensors rebuilt with _rebuild_tensor) into a safetensors file with conv1_1.weight names
# and the stated preprocessing in its metadata; `nst weights inspect` reads both and reports the
# layout, the preprocessing and every tensor with its dtype and shape.
# Run as: cmake -DNST=<nst binary> -DFIXTURES=<tests/fixtures/weights> -DWORK=<dir> -P weights_commands.cmake
function(run_nst out)
  execute_process(COMMAND ${NST} ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE stdout ERROR_VARIABLE stderr)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "nst ${ARGN} failed (${rc}): ${stderr}")
  endif()
  set(${out} "${stdout}" PARENT_SCOPE)
endfunction()

function(expect text pattern)
  string(FIND "${text}" "${pattern}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "expected '${pattern}' in:\n${text}")
  endif()
endfunction()

file(MAKE_DIRECTORY ${WORK})
set(converted ${WORK}/converted.safetensors)
file(REMOVE ${converted})

run_nst(before weights inspect ${FIXTURES}/vgg_tiny.legacy_v1.pth)
expect("${before}" "format:        pth-legacy")
expect("${before}" "layout:        torchvision")
expect("${before}" "preprocessing: torch")
expect("${before}" "features.0.weight")
expect("${before}" "F32   [4,3,3,3]")
expect("${before}" "classifier.")   # listed, though never loaded

run_nst(wrote weights convert ${FIXTURES}/vgg_tiny.legacy_v1.pth ${converted} --preprocess caffe)
expect("${wrote}" "16 convolutions")

run_nst(after weights inspect ${converted})
expect("${after}" "format:        safetensors")
expect("${after}" "layout:        caffe names")
expect("${after}" "preprocessing: caffe (from metadata")
expect("${after}" "conv5_4.bias")
expect("${after}" "layers:        conv1_1 .. pool5 (37 of 37)")

execute_process(COMMAND ${NST} weights inspect ${WORK} RESULT_VARIABLE rc ERROR_VARIABLE stderr)
if(rc EQUAL 0)
  message(FATAL_ERROR "inspecting a directory should fail")
endif()
expect("${stderr}" "nst: error:")
