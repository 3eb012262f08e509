/* A stand-in for libedgetpu.so.1 in the tests: an external TFLite delegate that claims no
 * nodes (so the CPU runs the model), records what it was given, and can refuse or crash on
 * request. Options (passed through edged's load_delegate call):
 *   record=/path   append "key=value" lines and "prepare" to this file
 *   mode=refuse    return NULL from create (the runtime raises ValueError)
 *   mode=crash     abort() in create (only a child-process probe survives that)
 *   hang_after=N   take over the whole graph; the first N invokes in this process return at
 *                  once (outputs left as they are), every later one sleeps for an hour: a
 *                  wedged accelerator, without burning CPU
 * The structs mirror the public TfLiteDelegate, TfLiteContext and TfLiteRegistration layouts
 * (tensorflow/lite/core/c/common.h); only their leading, long-stable fields are used. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int TfLiteStatus;
typedef struct TfLiteContext TfLiteContext;
typedef struct TfLiteDelegate TfLiteDelegate;

struct TfLiteDelegate {
  void* data_;
  TfLiteStatus (*Prepare)(TfLiteContext* context, TfLiteDelegate* delegate);
  void* CopyFromBufferHandle;
  void* CopyToBufferHandle;
  void* FreeBufferHandle;
  int64_t flags;
  void* opaque_delegate_builder;
  void* reserved[8]; /* room for fields newer runtimes may read; always zero */
};

static char record_path[4096];
static void record(const char* line);
static long hang_after = -1; /* -1: claim no node */
static long invokes;

typedef struct {
  int size;
  int data[];
} TfLiteIntArray;

/* TfLiteRegistration, passed by value: its leading fields, then zeros where newer runtimes
 * have more (registration_external, async_kernel, inplace_operator, ...) */
typedef struct {
  void* (*init)(TfLiteContext*, const char*, size_t);
  void (*free)(TfLiteContext*, void*);
  TfLiteStatus (*prepare)(TfLiteContext*, void*);
  TfLiteStatus (*invoke)(TfLiteContext*, void*);
  void* profiling_string;
  int32_t builtin_code;
  const char* custom_name;
  int version;
  void* reserved[8];
} Registration;

struct TfLiteContext {
  size_t tensors_size;
  TfLiteStatus (*GetExecutionPlan)(TfLiteContext*, TfLiteIntArray**);
  void* tensors;
  void* impl_;
  void* ResizeTensor;
  void* ReportError;
  void* AddTensors;
  void* GetNodeAndRegistration;
  TfLiteStatus (*ReplaceNodeSubsetsWithDelegateKernels)(TfLiteContext*, Registration,
                                                        const TfLiteIntArray*,
                                                        TfLiteDelegate*);
};

static TfLiteStatus kernel_prepare(TfLiteContext* context, void* node) {
  (void)context;
  (void)node;
  return 0;
}

static TfLiteStatus kernel_invoke(TfLiteContext* context, void* node) {
  (void)context;
  (void)node;
  if (++invokes > hang_after) {
    record("hang");
    struct timespec hour = {3600, 0};
    nanosleep(&hour, NULL);
  }
  return 0;
}

static void record(const char* line) {
  if (!record_path[0]) return;
  FILE* f = fopen(record_path, "a");
  if (!f) return;
  fprintf(f, "%s\n", line);
  fclose(f);
}

static TfLiteStatus prepare(TfLiteContext* context, TfLiteDelegate* delegate) {
  (void)context;
  (void)delegate;
  record("prepare");
  if (hang_after < 0) return 0; /* kTfLiteOk, and no node is taken over */
  TfLiteIntArray* plan = NULL;
  if (context->GetExecutionPlan(context, &plan) != 0) return 1;
  Registration reg;
  memset(&reg, 0, sizeof(reg));
  reg.prepare = kernel_prepare;
  reg.invoke = kernel_invoke;
  reg.custom_name = "fake_edgetpu";
  reg.version = 1;
  reg.builtin_code = 32; /* kTfLiteBuiltinDelegate */
  return context->ReplaceNodeSubsetsWithDelegateKernels(context, reg, plan, delegate);
}

TfLiteDelegate* tflite_plugin_create_delegate(char** keys, char** values, size_t n,
                                              void (*report_error)(const char*)) {
  const char* mode = "";
  for (size_t i = 0; i < n; i++) {
    if (strcmp(keys[i], "record") == 0) {
      strncpy(record_path, values[i], sizeof(record_path) - 1);
    } else if (strcmp(keys[i], "mode") == 0) {
      mode = values[i];
    } else if (strcmp(keys[i], "hang_after") == 0) {
      hang_after = atol(values[i]);
    }
  }
  for (size_t i = 0; i < n; i++) {
    char line[512];
    snprintf(line, sizeof(line), "%s=%s", keys[i], values[i]);
    record(line);
  }
  if (strcmp(mode, "crash") == 0) abort();
  if (strcmp(mode, "refuse") == 0) {
    if (report_error) report_error("fake delegate: no device (as asked)");
    return NULL;
  }
  TfLiteDelegate* d = calloc(1, sizeof(TfLiteDelegate));
  if (!d) return NULL;
  d->Prepare = prepare;
  d->flags = 1; /* kTfLiteDelegateFlagsAllowDynamicTensors: the failing test model has some */
  record("create");
  return d;
}

void tflite_plugin_destroy_delegate(TfLiteDelegate* delegate) {
  record("destroy");
  free(delegate);
}
