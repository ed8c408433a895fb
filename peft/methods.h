// methods.h — one function per PEFT method, each defined in its tuner family's file.
// method.cpp lists them in the registry.
#pragma once
#include "peft/method.h"

namespace vt::peft {

Method linear_probe_method();  // baselines.cpp
Method full_finetune_method();  // baselines.cpp
Method bitfit_method();         // baselines.cpp
Method vpt_method();            // vpt.cpp
Method adapter_method();        // adapter.cpp
Method adaptformer_method();    // adaptformer.cpp
Method lora_method();           // lora.cpp
Method prefix_method();         // prefix.cpp
Method ssf_method();            // ssf.cpp
Method fact_method();           // fact.cpp
Method convpass_method();       // convpass.cpp
Method utuning_method();        // utuning.cpp
Method iconformer_method();     // iconformer.cpp
Method dyt_method();            // dyt.cpp

}  // namespace vt::peft
