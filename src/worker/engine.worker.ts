/** The module Worker entry: exposes the EngineService over Comlink. The page never touches WebGPU. */
import * as Comlink from 'comlink';
import { EngineService } from './engine-service';
import { installErrorTransfer } from './error-transfer';

installErrorTransfer();
Comlink.expose(new EngineService());
