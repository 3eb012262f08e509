/* A stand-in for libedgetpu.so.1 in the tests: an external TFLite delegate that claims no
 * nodes (so the CPU runs the model), records what it was given, and can refuse or crash on
 * request. Options (passed through edged's load_delegate call):
 *   record=/path   append "key=value" lines and "prepare" to this file
 *   mode=refuse    return NULL from create (the runtime raises ValueError)
 *   mode=crash     abort() in create (only a child-process probe survives that)
 * The struct mirrors the public TfLiteDelegate layout (tensorflow/lite/core/c/common.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
  return 0; /* kTfLiteOk, and no node is taken over */
}

TfLiteDelegate* tflite_plugin_create_delegate(char** keys, char** values, size_t n,
                                              void (*report_error)(const char*)) {
  const char* mode = "";
  for (size_t i = 0; i < n; i++) {
    if (strcmp(keys[i], "record") == 0) {
      strncpy(record_path, values[i], sizeof(record_path) - 1);
    } else if (strcmp(keys[i], "mode") == 0) {
      mode = values[i];
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
