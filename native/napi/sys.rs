//! Raw declarations of the Node-API (N-API) C functions this addon calls.
//!
//! The `napi`/`napi-sys` crates cannot be installed where this crate must build, so the few functions
//! we use are declared here by hand, with the signatures of `js_native_api.h` and `node_api.h`
//! (Node-API version 8, available since Node 12.22). Nothing outside `native/napi/` may use this
//! module directly; `napi/mod.rs` is the safe layer on top.
//!
//! The symbols are resolved when Node loads the shared library (they are exported by the `node`
//! executable), so they are left undefined at link time. A `cargo test` executable has no Node to resolve them
//! against, so under `cfg(test)` the same list defines stand-ins that fail with `napi_generic_failure`; the safe
//! layer's error paths are tested against them.
#![allow(non_camel_case_types)]

use std::os::raw::{c_char, c_void};

#[repr(C)]
pub struct napi_env__ {
  _private: [u8; 0],
}
#[repr(C)]
pub struct napi_value__ {
  _private: [u8; 0],
}
#[repr(C)]
pub struct napi_callback_info__ {
  _private: [u8; 0],
}
#[repr(C)]
pub struct napi_ref__ {
  _private: [u8; 0],
}
#[repr(C)]
pub struct napi_deferred__ {
  _private: [u8; 0],
}
#[repr(C)]
pub struct napi_async_work__ {
  _private: [u8; 0],
}
#[repr(C)]
pub struct napi_threadsafe_function__ {
  _private: [u8; 0],
}

pub type napi_env = *mut napi_env__;
pub type napi_value = *mut napi_value__;
pub type napi_callback_info = *mut napi_callback_info__;
pub type napi_ref = *mut napi_ref__;
pub type napi_deferred = *mut napi_deferred__;
pub type napi_async_work = *mut napi_async_work__;
pub type napi_threadsafe_function = *mut napi_threadsafe_function__;

/// `napi_status`: 0 is `napi_ok`; the other values are only ever reported, never matched on.
pub type napi_status = i32;
pub const NAPI_OK: napi_status = 0;
pub const NAPI_PENDING_EXCEPTION: napi_status = 10;

/// `napi_valuetype`.
pub type napi_valuetype = i32;
pub const NAPI_UNDEFINED: napi_valuetype = 0;
pub const NAPI_NULL: napi_valuetype = 1;
pub const NAPI_BOOLEAN: napi_valuetype = 2;
pub const NAPI_NUMBER: napi_valuetype = 3;
pub const NAPI_STRING: napi_valuetype = 4;
pub const NAPI_FUNCTION: napi_valuetype = 7;
pub const NAPI_EXTERNAL: napi_valuetype = 8;

/// `napi_typedarray_type`.
pub type napi_typedarray_type = i32;
pub const NAPI_INT32_ARRAY: napi_typedarray_type = 5;
pub const NAPI_FLOAT64_ARRAY: napi_typedarray_type = 8;

/// `napi_threadsafe_function_call_mode` and `napi_threadsafe_function_release_mode`.
pub const NAPI_TSFN_NONBLOCKING: i32 = 0;
pub const NAPI_TSFN_RELEASE: i32 = 0;

pub type napi_callback = unsafe extern "C" fn(env: napi_env, info: napi_callback_info) -> napi_value;
pub type napi_finalize = unsafe extern "C" fn(env: napi_env, data: *mut c_void, hint: *mut c_void);
pub type napi_async_execute_callback = unsafe extern "C" fn(env: napi_env, data: *mut c_void);
pub type napi_async_complete_callback = unsafe extern "C" fn(env: napi_env, status: napi_status, data: *mut c_void);
pub type napi_threadsafe_function_call_js =
  unsafe extern "C" fn(env: napi_env, js_callback: napi_value, context: *mut c_void, data: *mut c_void);

#[cfg(test)]
pub const NAPI_GENERIC_FAILURE: napi_status = 9;

/// Declares each function once: as an import from Node, or (in unit tests) as a stand-in that always fails.
macro_rules! napi_functions {
  ($( fn $name:ident ( $($arg:ident : $ty:ty),* $(,)? ) -> napi_status; )*) => {
    #[cfg(not(test))]
    extern "C" {
      $( pub fn $name($($arg: $ty),*) -> napi_status; )*
    }
    $(
      #[cfg(test)]
      #[allow(unused_variables)]
      pub unsafe extern "C" fn $name($($arg: $ty),*) -> napi_status {
        NAPI_GENERIC_FAILURE
      }
    )*
  };
}

napi_functions! {
  fn napi_create_function(env: napi_env, utf8name: *const c_char, length: usize, cb: napi_callback, data: *mut c_void, result: *mut napi_value) -> napi_status;
  fn napi_get_cb_info(env: napi_env, cbinfo: napi_callback_info, argc: *mut usize, argv: *mut napi_value, this_arg: *mut napi_value, data: *mut *mut c_void) -> napi_status;
  fn napi_set_named_property(env: napi_env, object: napi_value, utf8name: *const c_char, value: napi_value) -> napi_status;
  fn napi_get_named_property(env: napi_env, object: napi_value, utf8name: *const c_char, result: *mut napi_value) -> napi_status;
  fn napi_typeof(env: napi_env, value: napi_value, result: *mut napi_valuetype) -> napi_status;
  fn napi_get_value_double(env: napi_env, value: napi_value, result: *mut f64) -> napi_status;
  fn napi_get_value_bool(env: napi_env, value: napi_value, result: *mut bool) -> napi_status;
  fn napi_get_value_string_utf8(env: napi_env, value: napi_value, buf: *mut c_char, bufsize: usize, result: *mut usize) -> napi_status;
  fn napi_create_double(env: napi_env, value: f64, result: *mut napi_value) -> napi_status;
  fn napi_create_string_utf8(env: napi_env, s: *const c_char, length: usize, result: *mut napi_value) -> napi_status;
  fn napi_get_boolean(env: napi_env, value: bool, result: *mut napi_value) -> napi_status;
  fn napi_get_undefined(env: napi_env, result: *mut napi_value) -> napi_status;
  fn napi_get_null(env: napi_env, result: *mut napi_value) -> napi_status;
  fn napi_create_object(env: napi_env, result: *mut napi_value) -> napi_status;
  fn napi_create_array_with_length(env: napi_env, length: usize, result: *mut napi_value) -> napi_status;
  fn napi_set_element(env: napi_env, object: napi_value, index: u32, value: napi_value) -> napi_status;
  fn napi_is_buffer(env: napi_env, value: napi_value, result: *mut bool) -> napi_status;
  fn napi_get_buffer_info(env: napi_env, value: napi_value, data: *mut *mut c_void, length: *mut usize) -> napi_status;
  fn napi_create_buffer(env: napi_env, length: usize, data: *mut *mut c_void, result: *mut napi_value) -> napi_status;
  fn napi_is_typedarray(env: napi_env, value: napi_value, result: *mut bool) -> napi_status;
  fn napi_get_typedarray_info(env: napi_env, typedarray: napi_value, kind: *mut napi_typedarray_type, length: *mut usize, data: *mut *mut c_void, arraybuffer: *mut napi_value, byte_offset: *mut usize) -> napi_status;
  fn napi_create_arraybuffer(env: napi_env, byte_length: usize, data: *mut *mut c_void, result: *mut napi_value) -> napi_status;
  fn napi_create_typedarray(env: napi_env, kind: napi_typedarray_type, length: usize, arraybuffer: napi_value, byte_offset: usize, result: *mut napi_value) -> napi_status;
  fn napi_throw_error(env: napi_env, code: *const c_char, msg: *const c_char) -> napi_status;
  fn napi_create_error(env: napi_env, code: napi_value, msg: napi_value, result: *mut napi_value) -> napi_status;
  fn napi_is_exception_pending(env: napi_env, result: *mut bool) -> napi_status;
  fn napi_create_external(env: napi_env, data: *mut c_void, finalize_cb: Option<napi_finalize>, finalize_hint: *mut c_void, result: *mut napi_value) -> napi_status;
  fn napi_get_value_external(env: napi_env, value: napi_value, result: *mut *mut c_void) -> napi_status;
  fn napi_create_reference(env: napi_env, value: napi_value, initial_refcount: u32, result: *mut napi_ref) -> napi_status;
  fn napi_delete_reference(env: napi_env, reference: napi_ref) -> napi_status;
  fn napi_create_promise(env: napi_env, deferred: *mut napi_deferred, promise: *mut napi_value) -> napi_status;
  fn napi_resolve_deferred(env: napi_env, deferred: napi_deferred, resolution: napi_value) -> napi_status;
  fn napi_reject_deferred(env: napi_env, deferred: napi_deferred, rejection: napi_value) -> napi_status;
  fn napi_create_async_work(env: napi_env, async_resource: napi_value, async_resource_name: napi_value, execute: napi_async_execute_callback, complete: napi_async_complete_callback, data: *mut c_void, result: *mut napi_async_work) -> napi_status;
  fn napi_delete_async_work(env: napi_env, work: napi_async_work) -> napi_status;
  fn napi_queue_async_work(env: napi_env, work: napi_async_work) -> napi_status;
  fn napi_create_threadsafe_function(env: napi_env, func: napi_value, async_resource: napi_value, async_resource_name: napi_value, max_queue_size: usize, initial_thread_count: usize, thread_finalize_data: *mut c_void, thread_finalize_cb: Option<napi_finalize>, context: *mut c_void, call_js_cb: Option<napi_threadsafe_function_call_js>, result: *mut napi_threadsafe_function) -> napi_status;
  fn napi_call_threadsafe_function(func: napi_threadsafe_function, data: *mut c_void, is_blocking: i32) -> napi_status;
  fn napi_release_threadsafe_function(func: napi_threadsafe_function, mode: i32) -> napi_status;
  fn napi_ref_threadsafe_function(env: napi_env, func: napi_threadsafe_function) -> napi_status;
  fn napi_unref_threadsafe_function(env: napi_env, func: napi_threadsafe_function) -> napi_status;
  fn napi_call_function(env: napi_env, recv: napi_value, func: napi_value, argc: usize, argv: *const napi_value, result: *mut napi_value) -> napi_status;
}
